import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { BatchV1Api } from "@kubernetes/client-node";
import { Metrics, createLogger } from "@mambalign/core";
import { JobLauncher } from "./job-launcher.js";
import { isFinished, parseJobTemplate } from "./job-template.js";
import { type KubeCluster, eventually, startKubeCluster } from "../test-support/kube-cluster.js";

// On a real API server with kwok's fake GPU nodes (testing/kube-cluster.ts); the chart's own template is
// launched in test/kube/chart-on-apiserver.test.ts.
const NS = "ml";
const TEMPLATE = {
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: {
    generateName: "mambalign-trainer-",
    labels: { "app.kubernetes.io/instance": "r1", "app.kubernetes.io/component": "trainer-job" },
  },
  spec: {
    backoffLimit: 3,
    // Created suspended (as under Kueue): unfinished until the test lets one run.
    suspend: true,
    template: {
      spec: {
        restartPolicy: "Never",
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        containers: [{ name: "trainer", image: "trainer:1", env: [{ name: "MAMBALIGN_TRAINER_MAX_JOBS", value: "1" }], resources: { limits: { "nvidia.com/gpu": "8" } } }],
      },
    },
  },
};

let cluster: KubeCluster;
let batch: BatchV1Api;
before(async () => {
  cluster = await startKubeCluster();
  await cluster.createNamespace(NS);
  batch = cluster.kubeConfig().makeApiClient(BatchV1Api);
});
after(() => cluster?.stop());

function launcherFor(maxConcurrent: number, outstanding: () => Promise<number>, instance: string) {
  const t = structuredClone(TEMPLATE);
  t.metadata.labels["app.kubernetes.io/instance"] = instance;
  return new JobLauncher({
    kubeConfig: cluster.kubeConfig(),
    namespace: NS,
    template: parseJobTemplate(JSON.stringify(t)),
    maxConcurrent,
    outstanding,
    intervalMs: 3_600_000,
    logger: createLogger("test", "silent"),
    metrics: new Metrics({ defaultMetrics: false }),
  });
}

const jobsOf = async (instance: string) =>
  (await batch.listNamespacedJob({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${instance}` })).items;

test("job launcher — one Job per queued stage, from the template, bounded by maxConcurrent; a Job that completes frees its slot — on a real API server", { timeout: 120_000 }, async () => {
  let outstanding = 3;
  const launcher = launcherFor(2, async () => outstanding, "bounded");
  const first = await launcher.reconcile();
  assert.equal(first.created.length, 2);
  const jobs = await jobsOf("bounded");
  assert.deepEqual(jobs.map((j) => j.metadata!.name).sort(), [...first.created].sort());
  for (const j of jobs) {
    assert.match(j.metadata!.name!, /^mambalign-trainer-/);
    assert.equal(j.spec!.template.spec!.containers[0]!.resources!.limits!["nvidia.com/gpu"], "8");
  }
  assert.deepEqual((await launcher.reconcile()).created, [], "nothing changed: no duplicates");

  // One stage runs: its pod is scheduled on a GPU node, kwok completes it, the Job controller marks it Complete.
  await batch.patchNamespacedJob({ name: jobs[0]!.metadata!.name!, namespace: NS, body: [{ op: "replace", path: "/spec/suspend", value: false }] });
  const done = await eventually("the unsuspended Job Complete", async () => {
    const j = await batch.readNamespacedJob({ name: jobs[0]!.metadata!.name!, namespace: NS });
    return isFinished({ ...j, kind: "Job" }) && j;
  });
  assert.equal(done.status!.succeeded, 1);
  outstanding = 2; // its stage was acked
  const third = await launcher.reconcile();
  assert.deepEqual({ unfinished: third.unfinished, created: third.created.length }, { unfinished: 1, created: 1 });
  assert.equal((await jobsOf("bounded")).length, 3);
});

test("job launcher — an empty queue creates no Jobs — on a real API server", { timeout: 60_000 }, async () => {
  const launcher = launcherFor(8, async () => 0, "empty");
  assert.deepEqual(await launcher.reconcile(), { outstanding: 0, unfinished: 0, created: [] });
  assert.equal((await jobsOf("empty")).length, 0);
});

test("job launcher — Jobs of other releases are not counted as its own — on a real API server", { timeout: 60_000 }, async () => {
  assert.equal((await launcherFor(4, async () => 1, "other-release").reconcile()).created.length, 1);
  assert.equal((await launcherFor(4, async () => 1, "this-release").reconcile()).created.length, 1);
});

test("job template — bad templates are refused naming the key", () => {
  const text = JSON.stringify(TEMPLATE);
  assert.throws(() => parseJobTemplate("{"), /not valid JSON/);
  const t = JSON.parse(text);
  assert.throws(() => parseJobTemplate(JSON.stringify({ ...t, kind: "Pod" })), (e: Error & { key?: string }) => e.key === "kind");
  const named = structuredClone(t);
  named.metadata.name = "fixed";
  assert.throws(() => parseJobTemplate(JSON.stringify(named)), /generateName/);
  const unlabeled = structuredClone(t);
  delete unlabeled.metadata.labels["app.kubernetes.io/instance"];
  assert.throws(() => parseJobTemplate(JSON.stringify(unlabeled)), /app\.kubernetes\.io\/instance/);
  const empty = structuredClone(t);
  empty.spec.template.spec.containers = [];
  assert.throws(() => parseJobTemplate(JSON.stringify(empty)), /containers/);
});
