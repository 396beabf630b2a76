// The chart's bundled NATS, secure by default: each service connects as its own user, allowed only its
// subjects; the rendered nats.conf is run on the real nats-server to show it.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { Bus, BUS_USERS, BusPermissionError, freePort, JOB_SUBJECTS, StageJob, startNatsProcess } from "@mambalign/core";
import { chartNatsPermissions } from "../../services/core/src/bus/permissions.js";
import { CHART, type Manifest, render } from "./helm.js";

const find = (docs: Manifest[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
type Container = { name: string; env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] };

test("helm chart — nats-permissions.json is the table services/core/src/bus/permissions.ts enforces", async () => {
  const inChart = await readFile(path.join(CHART, "files", "nats-permissions.json"), "utf8");
  assert.equal(inChart, chartNatsPermissions(), "regenerate charts/mambalign/files/nats-permissions.json from chartNatsPermissions()");
});

test("helm chart — by default every NATS client has its own user from the users Secret, and the server requires it", () => {
  const docs = render();
  const secret = find(docs, "Secret", "r1-mambalign-nats-users");
  assert.ok(secret, "the chart makes the users Secret");
  assert.deepEqual(Object.keys(secret.data).sort(), [...BUS_USERS].sort());
  const expected: Record<string, string> = {
    "r1-mambalign-pipeline": "pipeline",
    "r1-mambalign-datasets": "datasets",
    "r1-mambalign-registry": "registry",
    "r1-mambalign-evaluator": "evaluator",
    "r1-mambalign-launcher": "kube",
  };
  const containers: [string, Container][] = docs
    .filter((d) => d.kind === "Deployment")
    .map((d) => [d.metadata.name, d.spec.template.spec.containers[0] as Container]);
  const template = find(docs, "ConfigMap", "r1-mambalign-trainer-job-template");
  containers.push(["trainer job", JSON.parse(template!.data["job-template.json"]).spec.template.spec.containers[0]]);
  for (const [owner, c] of containers) {
    if (!c.env?.some((e) => e.name === "MAMBALIGN_NATS_URL")) continue;
    const user = c.env.find((e) => e.name === "MAMBALIGN_NATS_USER")?.value;
    const password = c.env.find((e) => e.name === "MAMBALIGN_NATS_PASSWORD")?.valueFrom?.secretKeyRef;
    assert.equal(user, owner === "trainer job" ? "trainer" : expected[owner], `${owner}'s NATS user`);
    assert.deepEqual(password, { name: "r1-mambalign-nats-users", key: user }, `${owner}'s password comes from the Secret`);
  }
  const conf: string = find(docs, "ConfigMap", "r1-mambalign-nats")!.data["nats.conf"];
  assert.match(conf, /authorization \{/);
  assert.doesNotMatch(conf, new RegExp(Object.values(secret.data as Record<string, string>).map((b64) => Buffer.from(b64, "base64").toString()).join("|")), "no password in the ConfigMap");
});

test("helm chart — every generated NATS password starts with a letter (nats-server parses $VAR values: a leading digit is a number and the server does not start)", () => {
  // Random passwords: a handful of renders makes a digit-first one near certain before the fix (it failed a CI run).
  for (let i = 0; i < 8; i++) {
    const secret = find(render(), "Secret", "r1-mambalign-nats-users")!;
    for (const [user, b64] of Object.entries(secret.data as Record<string, string>)) {
      assert.match(Buffer.from(b64, "base64").toString(), /^[A-Za-z][A-Za-z0-9]{31,}$/, `${user}'s password`);
    }
  }
});

test("helm chart — the rendered nats.conf on the real nats-server: anonymous refused, the trainer cannot publish a job, the pipeline can", async () => {
  const docs = render();
  const conf: string = find(docs, "ConfigMap", "r1-mambalign-nats")!.data["nats.conf"];
  const secret = find(docs, "Secret", "r1-mambalign-nats-users")!;
  const passwords = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([u, b64]) => [u, Buffer.from(b64, "base64").toString()]));
  const dir = await mkdtemp(path.join(tmpdir(), "mambalign-chart-nats-"));
  // The pod's monitor port, pid file and store removed: the test's port and store are flags.
  const configFile = path.join(dir, "nats.conf");
  await writeFile(configFile, conf.replace(/^http_port:.*$/m, "").replace(/^pid_file:.*$/m, "").replace(/^\s*store_dir:.*$/m, ""));
  for (const u of BUS_USERS) process.env[`NATS_PASSWORD_${u.toUpperCase()}`] = passwords[u];
  const nats = await startNatsProcess({ port: await freePort(), storeDir: path.join(dir, "js"), configFile });
  const connect = (user?: string) =>
    Bus.connect({ servers: nats.url, name: user ?? "anon", logger: pino({ level: "silent" }), ...(user ? { credentials: { user, password: passwords[user]! } } : {}) });
  const buses: Bus[] = [];
  try {
    await assert.rejects(connect(), (e: unknown) => e instanceof BusPermissionError);
    const pipeline = await connect("pipeline");
    buses.push(pipeline);
    await pipeline.ensureStreams();
    const job = StageJob.fromPartial({ jobId: "r.sft.1", runId: "r", stage: 1, attempt: 1 });
    assert.equal((await pipeline.publishJob(JOB_SUBJECTS.train, job)).duplicate, false);
    const trainer = await connect("trainer");
    buses.push(trainer);
    await assert.rejects(trainer.publishJob(JOB_SUBJECTS.train, { ...job, jobId: "r.sft.2" }), (e: unknown) => e instanceof BusPermissionError);
  } finally {
    for (const b of buses) await b.close();
    await nats.stop();
    for (const u of BUS_USERS) delete process.env[`NATS_PASSWORD_${u.toUpperCase()}`];
    await rm(dir, { recursive: true, force: true });
  }
});

test("helm chart — bundled MinIO: services hold a bucket-scoped user, only MinIO and its setup Job hold the root user", () => {
  const docs = render();
  const job = find(docs, "Job", "r1-mambalign-minio-bucket-user-1");
  assert.ok(job, "a Job makes the services' bucket user");
  const script: string = job.spec.template.spec.containers[0].args[0];
  assert.match(script, /arn:aws:s3:::%s","arn:aws:s3:::%s\/\*/, "the policy names the bucket and nothing else");
  assert.match(script, /mc admin policy attach m "bucket-\$BUCKET" --user "\$AWS_ACCESS_KEY_ID"/);
  const refs = (spec: { containers: Container[] }) =>
    spec.containers.flatMap((c) => (c.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name).filter((n): n is string => Boolean(n)));
  const rootHolders = docs
    .filter((d) => ["Deployment", "StatefulSet", "Job"].includes(d.kind))
    .filter((d) => refs(d.spec.template.spec).includes("mambalign-minio-root"))
    .map((d) => `${d.kind}/${d.metadata.name}`)
    .sort();
  assert.deepEqual(rootHolders, ["Job/r1-mambalign-minio-bucket-user-1", "StatefulSet/r1-mambalign-minio"]);
  const trainerPod = JSON.parse(find(docs, "ConfigMap", "r1-mambalign-trainer-job-template")!.data["job-template.json"]).spec.template.spec;
  assert.ok(!refs(trainerPod).includes("mambalign-minio-root"));
  assert.ok(refs(trainerPod).includes("mambalign-s3"), "the trainer's S3 keys are the services' Secret");
  assert.throws(() => render({ "minio.rootAuth.existingSecret": "mambalign-s3" }), /must not be the services' S3 Secret/);
});
