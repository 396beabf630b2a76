// The chart as operators expect it: values schema, generated README, shared model cache, extras on every
// workload, S3 from workload identity, benchmark files without settings. All with the real helm binary.
// What cannot run here: the images' builds and real EKS identity; those are checked in the files that
// produce them (Dockerfile, rendered ServiceAccounts and env), and in the store's own tests.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { CHART, REPO, helm, parseManifests, render, type Manifest } from "./helm.js";
import { validateManifest } from "./k8s-schema.js";

/** `helm template` with a values file (lists and maps that --set cannot spell). */
function renderValues(values: object, extraArgs: string[] = []): Manifest[] {
  const dir = mkdtempSync(path.join(tmpdir(), "chart-values-"));
  try {
    const file = path.join(dir, "values.json");
    writeFileSync(file, JSON.stringify(values));
    const r = helm(["template", "r1", CHART, "--namespace", "ml", "-f", file, ...extraArgs]);
    if (!r.ok) throw new Error(`helm template failed: ${r.stderr.trim()}`);
    return parseManifests(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type PodSpec = { serviceAccountName?: string; containers: any[]; volumes?: any[] };
/** Every pod template: [owner, metadata, spec], including the Job the launcher stamps out. */
function pods(docs: Manifest[]): { owner: string; meta: any; spec: PodSpec }[] {
  return docs.flatMap((d) => {
    if (["Deployment", "StatefulSet"].includes(d.kind)) return [{ owner: `${d.kind}/${d.metadata.name}`, meta: d.spec.template.metadata, spec: d.spec.template.spec }];
    if (d.kind === "ConfigMap" && d.data?.["job-template.json"]) {
      const job = JSON.parse(d.data["job-template.json"]);
      return [{ owner: "trainer Job", meta: job.spec.template.metadata, spec: job.spec.template.spec }];
    }
    return [];
  });
}
const byOwner = (docs: Manifest[], owner: string) => {
  const p = pods(docs).find((x) => x.owner === owner);
  assert.ok(p, `${owner} rendered`);
  return p;
};
const EXTERNAL_S3 = { "minio.bundled": false, "s3.external.endpoint": "https://s3.eu-west-1.amazonaws.com" };

test("helm chart — values.schema.json: helm template, lint and install refuse a wrong type, naming the key", () => {
  const cases: [string[], RegExp][] = [
    [["--set", "trainer.gpu.count=eight"], /trainer\/gpu\/count': got string, want integer/],
    [["--set", "pipeline.replicaCount=two"], /pipeline\/replicaCount': got string, want integer/],
    [["--set-string", "modelCache.enabled=yes"], /modelCache\/enabled': got string, want boolean/],
    [["--set", "trainer.mode=batch"], /trainer\/mode': value must be one of 'job', 'pool'/],
    [["--set", "s3.auth.mode=iam"], /s3\/auth\/mode': value must be one of 'keys', 'workloadIdentity'/],
    [["--set", "networkPolicy.kubeApiServerPorts[0]=https"], /networkPolicy\/kubeApiServerPorts\/0': got string, want integer/],
    // A misspelt key is refused rather than ignored.
    [["--set", "trainer.gpu.cout=8"], /trainer\/gpu': additional properties 'cout' not allowed/],
  ];
  for (const [args, message] of cases) {
    for (const cmd of [["template", "r1", CHART], ["lint", CHART], ["install", "r1", CHART, "--dry-run=client", "--namespace", "ml"]]) {
      const r = helm([...cmd, ...args]);
      assert.equal(r.ok, false, `${cmd[0]} ${args.join(" ")} is refused`);
      assert.match(r.stderr + r.stdout, message, `${cmd[0]} ${args.join(" ")}`);
    }
  }
  // Numbers where a string is documented (and the reverse for quantities) stay accepted.
  render({ "judge.concurrency": 8, "image.trainer.tag": "1.2", "trainer.workDirSizeLimit": "100Gi", "keda.lagThreshold": 2, "trainer.gpu.products": "{NVIDIA-A100-SXM4-80GB}" });
});

test("helm chart — README and values.schema.json are generated from values.yaml's # -- comments and not stale", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO, "scripts/chart-docs.ts"), "--check"], { cwd: REPO, encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  const readme = readFileSync(path.join(CHART, "README.md"), "utf8");
  const schema = JSON.parse(readFileSync(path.join(CHART, "values.schema.json"), "utf8"));
  for (const key of ["trainer.gpu.count", "modelCache.accessMode", "s3.auth.workloadIdentity.roleArn", "evaluator.extraVolumes", "nats.podAnnotations"]) {
    assert.match(readme, new RegExp(`^\\| \`${key.replace(/\./g, "\\.")}\` \\|`, "m"), `${key} is listed`);
    const node = key.split(".").reduce((s: any, k) => s?.properties?.[k], schema);
    assert.ok(node?.type && node.description, `${key} has a type and a description in the schema`);
  }
});

test("helm chart — the check fails on a value without a # -- comment", (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "chart-docs-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A copy of the chart with one undocumented value added.
  execFileSync("cp", ["-r", CHART, dir]);
  const chart = path.join(dir, "mambalign");
  writeFileSync(path.join(chart, "values.yaml"), readFileSync(path.join(chart, "values.yaml"), "utf8") + "\nundocumented: 1\n");
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO, "scripts/chart-docs.ts"), "--check", "--chart", chart], { cwd: REPO, encoding: "utf8" });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /undocumented: no "# --" comment/);
});

test("helm chart — shared model cache: one ReadWriteMany PVC mounted at HF_HOME in stage Jobs, pool workers, evaluator and datasets", async () => {
  for (const mode of ["job", "pool"]) {
    const docs = render({ "trainer.mode": mode });
    const pvc = docs.find((d) => d.kind === "PersistentVolumeClaim" && d.metadata.name === "r1-mambalign-model-cache");
    assert.ok(pvc, "the chart creates the cache PVC");
    assert.deepEqual(pvc.spec.accessModes, ["ReadWriteMany"]);
    await validateManifest(pvc);
    const owners = mode === "job" ? ["trainer Job"] : ["Deployment/r1-mambalign-trainer"];
    for (const owner of [...owners, "Deployment/r1-mambalign-evaluator", "Deployment/r1-mambalign-datasets"]) {
      const { spec } = byOwner(docs, owner);
      const c = spec.containers[0];
      const home = c.env.find((e: { name: string }) => e.name === "HF_HOME").value;
      const mount = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === home);
      assert.ok(mount, `${owner}: HF_HOME ${home} is a mount`);
      const volume = spec.volumes!.find((v) => v.name === mount.name);
      assert.deepEqual(volume.persistentVolumeClaim, { claimName: "r1-mambalign-model-cache" }, `${owner}: HF_HOME is the shared PVC, not an emptyDir`);
    }
  }
  const existing = render({ "modelCache.existingClaim": "hf-weights" });
  assert.ok(!existing.some((d) => d.kind === "PersistentVolumeClaim" && d.metadata.name === "r1-mambalign-model-cache"), "no PVC created for an existing claim");
  assert.equal(byOwner(existing, "trainer Job").spec.volumes!.find((v) => v.name === "hf-cache").persistentVolumeClaim.claimName, "hf-weights");
  const off = render({ "modelCache.enabled": false });
  assert.ok(!off.some((d) => d.kind === "PersistentVolumeClaim" && d.metadata.name === "r1-mambalign-model-cache"));
  assert.deepEqual(byOwner(off, "trainer Job").spec.volumes!.find((v) => v.name === "hf-cache").emptyDir, { sizeLimit: "200Gi" });
});

test("helm chart — podAnnotations, envFrom, extraVolumes and extraVolumeMounts reach every workload", async () => {
  const extras = (name: string) => ({
    podAnnotations: { "example.com/owner": name },
    envFrom: [{ secretRef: { name: `${name}-env` } }],
    extraVolumes: [{ name: "extra", configMap: { name: `${name}-files` } }],
    extraVolumeMounts: [{ name: "extra", mountPath: "/etc/extra", readOnly: true }],
  });
  const components = ["pipeline", "datasets", "registry", "evaluator", "trainer", "dashboard", "nats", "minio"];
  for (const mode of ["job", "pool"]) {
    const values: Record<string, any> = { podAnnotations: { "example.com/team": "ml" }, trainer: { mode, ...extras("trainer"), job: { launcher: extras("launcher") }, pool: { autoscaler: extras("autoscaler") } } };
    for (const c of components.filter((x) => x !== "trainer")) values[c] = extras(c);
    const docs = renderValues(values);
    const all = pods(docs);
    assert.ok(all.length >= 8, `${mode}: every workload rendered`);
    for (const { owner, meta, spec } of all) {
      const name = owner === "trainer Job" || owner === "Deployment/r1-mambalign-trainer" ? "trainer" : owner.replace(/^\w+\/r1-mambalign-/, "");
      assert.equal(meta.annotations?.["example.com/team"], "ml", `${mode}: ${owner} has the global pod annotation`);
      assert.equal(meta.annotations?.["example.com/owner"], name, `${mode}: ${owner} has its own pod annotation`);
      assert.deepEqual(spec.containers[0].envFrom, [{ secretRef: { name: `${name}-env` } }], `${mode}: ${owner} envFrom`);
      assert.deepEqual(spec.volumes!.find((v) => v.name === "extra"), { name: "extra", configMap: { name: `${name}-files` } }, `${mode}: ${owner} extra volume`);
      assert.ok(spec.containers[0].volumeMounts.some((m: { mountPath: string }) => m.mountPath === "/etc/extra"), `${mode}: ${owner} extra mount`);
    }
    // Annotations the chart needs itself survive next to the operator's.
    assert.ok(byOwner(docs, "StatefulSet/r1-mambalign-nats").meta.annotations["checksum/config"]);
    if (mode === "job") assert.ok(byOwner(docs, "Deployment/r1-mambalign-launcher").meta.annotations["checksum/job-template"]);
    for (const d of docs) await validateManifest(d);
  }
});

test("helm chart — S3 from workload identity: no static key anywhere, IRSA role on the ServiceAccounts of S3 users only", async () => {
  const roleArn = "arn:aws:iam::123456789012:role/mambalign-s3";
  const lint = helm(["lint", "--strict", CHART, ...Object.entries({ ...EXTERNAL_S3, "s3.auth.mode": "workloadIdentity", "s3.auth.workloadIdentity.roleArn": roleArn }).flatMap(([k, v]) => ["--set", `${k}=${v}`])]);
  assert.ok(lint.ok, lint.stdout + lint.stderr);
  for (const mode of ["job", "pool"]) {
    const docs = render({ ...EXTERNAL_S3, "trainer.mode": mode, "s3.auth.mode": "workloadIdentity", "s3.auth.workloadIdentity.roleArn": roleArn });
    for (const d of docs) await validateManifest(d);
    assert.ok(!docs.some((d) => d.kind === "Secret" && d.metadata.name.endsWith("-s3")), "no S3 Secret is rendered");
    const s3Users = ["pipeline", "datasets", "registry", "evaluator"].map((s) => `Deployment/r1-mambalign-${s}`);
    s3Users.push(mode === "job" ? "trainer Job" : "Deployment/r1-mambalign-trainer");
    for (const { owner, spec } of pods(docs)) {
      for (const c of spec.containers) {
        const names = (c.env ?? []).map((e: { name: string }) => e.name);
        assert.ok(!names.includes("AWS_ACCESS_KEY_ID") && !names.includes("AWS_SECRET_ACCESS_KEY"), `${owner}: no static keys`);
        if (s3Users.includes(owner)) assert.equal(c.env.find((e: { name: string }) => e.name === "MAMBALIGN_S3_AUTH")?.value, "workload-identity", owner);
      }
      const sa = docs.find((d) => d.kind === "ServiceAccount" && d.metadata.name === spec.serviceAccountName)!;
      const annotated = sa.metadata.annotations?.["eks.amazonaws.com/role-arn"];
      assert.equal(annotated, s3Users.includes(owner) ? roleArn : undefined, `${owner}: IRSA role only where S3 is used`);
    }
    // Pod Identity's agent is link-local on the node: the S3 users' NetworkPolicies let them reach it.
    const np = docs.find((d) => d.kind === "NetworkPolicy" && d.metadata.name === "r1-mambalign-registry")!;
    assert.ok(np.spec.egress.some((r: any) => r.to?.some((t: any) => t.ipBlock?.cidr === "169.254.170.23/32")), "egress to the Pod Identity agent");
  }
  // Pod Identity: no role ARN needed, still no keys.
  const podIdentity = render({ ...EXTERNAL_S3, "s3.auth.mode": "workloadIdentity" });
  assert.ok(!JSON.stringify(podIdentity).includes("AWS_SECRET_ACCESS_KEY"));
  assert.ok(!podIdentity.some((d) => d.kind === "ServiceAccount" && d.metadata.annotations?.["eks.amazonaws.com/role-arn"]));
  // Keys mode (default) keeps reading the Secret.
  const keys = byOwner(render(), "Deployment/r1-mambalign-registry").spec.containers[0];
  assert.equal(keys.env.find((e: { name: string }) => e.name === "AWS_SECRET_ACCESS_KEY").valueFrom.secretKeyRef.name, "mambalign-s3");
});

test("helm chart — workload identity with the bundled MinIO, or a role ARN in keys mode, fails naming the keys", () => {
  assert.throws(() => render({ "s3.auth.mode": "workloadIdentity" }), /s3\.auth\.mode=workloadIdentity needs minio\.bundled=false/);
  assert.throws(() => render({ "s3.auth.workloadIdentity.roleArn": "arn:aws:iam::1:role/x" }), /roleArn is set but s3\.auth\.mode=keys/);
});

test("helm chart — the evaluator finds its benchmark files with no setting (image build cannot run here: the Dockerfile is read)", () => {
  const evaluator = byOwner(render(), "Deployment/r1-mambalign-evaluator").spec.containers[0];
  assert.ok(!evaluator.env.some((e: { name: string }) => e.name === "MAMBALIGN_BENCH_DATA_DIR"), "no setting needed");
  assert.match(evaluator.image, /\/trainer:/, "the evaluator runs the trainer image");
  const dockerfile = readFileSync(path.join(REPO, "docker/trainer.Dockerfile"), "utf8");
  assert.match(dockerfile, /^COPY services\/evaluator\/benchmarks services\/evaluator\/benchmarks$/m);
  // No ignore pattern may cover the benchmark folder (an ignored folder makes that COPY fail at build time).
  const benchmarks = "services/evaluator/benchmarks";
  const ignored = readFileSync(path.join(REPO, "docker/trainer.Dockerfile.dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim().replace(/\/+$/, ""))
    .filter((l) => l !== "" && !l.startsWith("#"));
  const covering = ignored.filter((l) => l.includes("benchmarks") || benchmarks === l || benchmarks.startsWith(`${l}/`) || l === "*" || l === "**");
  assert.deepEqual(covering, [], "the .dockerignore keeps the benchmark files in the build context");
});
