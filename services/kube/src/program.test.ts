import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AppsV1Api, BatchV1Api } from "@kubernetes/client-node";
import { Bus, JOB_SUBJECTS, Stage, StageJob, createLogger } from "@mambalign/core";
import { startNatsServer } from "@mambalign/core/testing";
import { loadKubeProgramConfig } from "./kube-config.js";
import { startKubeProgram } from "./program.js";
import { type KubeCluster, eventually, startKubeCluster } from "../test-support/kube-cluster.js";

// Real NATS and a real API server (testing/kube-cluster.ts), one of each for the file.
const TEMPLATE = {
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { generateName: "t-", labels: { "app.kubernetes.io/instance": "r1", "app.kubernetes.io/component": "trainer-job" } },
  // Suspended: the test counts Jobs created, not Jobs run.
  spec: { suspend: true, template: { spec: { restartPolicy: "Never", containers: [{ name: "trainer", image: "trainer:1" }] } } },
};

const job = (id: string, stage = Stage.STAGE_SFT) => StageJob.fromPartial({ jobId: id, runId: id.split(".")[0], stage, attempt: 1 });

let cluster: KubeCluster;
before(async () => {
  cluster = await startKubeCluster({ nodes: [] });
  await cluster.createNamespace("ml");
});
after(() => cluster?.stop());

/** Real NATS on a fresh store; `stopFirst` (the program under test) is stopped before it. */
async function setup(t: import("node:test").TestContext) {
  const nats = await startNatsServer();
  const bus = await Bus.connect({ servers: nats.url, name: "test", logger: createLogger("test", "silent") });
  await bus.ensureStreams();
  const env = { nats, bus, stopFirst: undefined as undefined | { stop(): Promise<void> } };
  t.after(async () => {
    await env.stopFirst?.stop();
    await bus.close();
    await nats.stop();
  });
  return env;
}

test("launcher program — train/merge jobs on a real JetStream queue become Kubernetes Jobs (eval jobs do not); /metrics and /healthz served — on a real API server", { timeout: 120_000 }, async (t) => {
  const env = await setup(t);
  const { nats, bus } = env;
  const dir = mkdtempSync(path.join(tmpdir(), "launcher-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, "job.json"), JSON.stringify(TEMPLATE));
  await bus.publishJob(JOB_SUBJECTS.train, job("a.sft.1"));
  await bus.publishJob(JOB_SUBJECTS.merge, job("b.merge.1", Stage.STAGE_MERGE));
  await bus.publishJob(JOB_SUBJECTS.eval, job("c.eval.1", Stage.STAGE_EVAL));

  const cfg = loadKubeProgramConfig({
    MAMBALIGN_KUBE_PROGRAM: "launcher",
    MAMBALIGN_NATS_URL: nats.url,
    MAMBALIGN_KUBE_NAMESPACE: "ml",
    MAMBALIGN_METRICS_PORT: "0",
    LOG_LEVEL: "silent",
    MAMBALIGN_LAUNCHER_JOB_TEMPLATE: path.join(dir, "job.json"),
  });
  const program = (env.stopFirst = await startKubeProgram(cfg, cluster.kubeConfig()));
  const batch = cluster.kubeConfig().makeApiClient(BatchV1Api);
  const jobs = async () => (await batch.listNamespacedJob({ namespace: "ml", labelSelector: "app.kubernetes.io/instance=r1" })).items;
  await eventually("two Jobs", async () => (await jobs()).length >= 2);

  const base = `http://127.0.0.1:${program.metricsPort}`;
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /mambalign_launcher_jobs_created_total 2/);
  assert.match(metrics, /mambalign_launcher_outstanding_jobs 2/);
  assert.equal((await jobs()).length, 2);
});

test("autoscaler program — the trainer pool follows a real JetStream queue — on a real API server", { timeout: 120_000 }, async (t) => {
  const env = await setup(t);
  const { nats, bus } = env;
  const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
  await apps.createNamespacedDeployment({
    namespace: "ml",
    body: {
      metadata: { name: "r1-trainer" },
      spec: { replicas: 0, selector: { matchLabels: { app: "t" } }, template: { metadata: { labels: { app: "t" } }, spec: { containers: [{ name: "trainer", image: "trainer:1" }] } } },
    },
  });
  await bus.publishJob(JOB_SUBJECTS.train, job("a.sft.1"));
  await bus.publishJob(JOB_SUBJECTS.train, job("a.dpo.1", Stage.STAGE_DPO));
  env.stopFirst = await startKubeProgram(
    loadKubeProgramConfig({
      MAMBALIGN_KUBE_PROGRAM: "autoscaler",
      MAMBALIGN_NATS_URL: nats.url,
      MAMBALIGN_KUBE_NAMESPACE: "ml",
      MAMBALIGN_METRICS_PORT: "0",
      LOG_LEVEL: "silent",
      MAMBALIGN_AUTOSCALER_DEPLOYMENT: "r1-trainer",
      MAMBALIGN_AUTOSCALER_MAX: "4",
    }),
    cluster.kubeConfig(),
  );
  await eventually("2 replicas", async () => (await apps.readNamespacedDeployment({ name: "r1-trainer", namespace: "ml" })).spec!.replicas === 2);
});

test("kube program config — bad environment names the variable", () => {
  const base = { MAMBALIGN_KUBE_PROGRAM: "launcher", MAMBALIGN_KUBE_NAMESPACE: "ml" };
  assert.throws(() => loadKubeProgramConfig({}), (e: Error & { variable?: string }) => e.variable === "MAMBALIGN_KUBE_PROGRAM");
  assert.throws(() => loadKubeProgramConfig({ MAMBALIGN_KUBE_PROGRAM: "launcher" }), (e: Error & { variable?: string }) => e.variable === "MAMBALIGN_KUBE_NAMESPACE");
  assert.throws(() => loadKubeProgramConfig({ ...base, MAMBALIGN_LAUNCHER_MAX_CONCURRENT: "-1" }), /MAMBALIGN_LAUNCHER_MAX_CONCURRENT/);
  assert.throws(() => loadKubeProgramConfig({ ...base, MAMBALIGN_LAUNCHER_NODES: "0" }), /MAMBALIGN_LAUNCHER_NODES must be >= 1/);
  assert.throws(() => loadKubeProgramConfig({ ...base, MAMBALIGN_QUEUE_SUBJECTS: "jobs.train,jobs.bogus" }), /jobs\.bogus/);
  assert.throws(() => loadKubeProgramConfig({ ...base, MAMBALIGN_KUBE_PROGRAM: "autoscaler" }), /MAMBALIGN_AUTOSCALER_DEPLOYMENT is required/);
  assert.throws(
    () => loadKubeProgramConfig({ ...base, MAMBALIGN_KUBE_PROGRAM: "autoscaler", MAMBALIGN_AUTOSCALER_DEPLOYMENT: "d", MAMBALIGN_AUTOSCALER_MIN: "3", MAMBALIGN_AUTOSCALER_MAX: "1" }),
    /MIN must not exceed/,
  );
  const cfg = loadKubeProgramConfig(base);
  assert.deepEqual(cfg.subjects, ["jobs.train", "jobs.merge"]);
  assert.equal(cfg.launcher.maxConcurrent, 4);
  assert.equal(cfg.launcher.nodes, 1);
});
