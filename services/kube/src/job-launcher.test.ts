import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { Metrics, createLogger } from "@mambalign/core";
import { JobLauncher } from "./job-launcher.js";
import { parseJobTemplate } from "./job-template.js";
import { KubeApiSubstitute } from "./testing/kube-api-substitute.js";
import { substituteKubeConfig } from "./testing/kube-config.js";

const NS = "ml";
const TEMPLATE = JSON.stringify({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: {
    generateName: "mambalign-trainer-",
    labels: { "app.kubernetes.io/instance": "r1", "app.kubernetes.io/component": "trainer-job", "kueue.x-k8s.io/queue-name": "gpu" },
  },
  spec: {
    backoffLimit: 3,
    template: {
      spec: {
        restartPolicy: "Never",
        containers: [{ name: "trainer", image: "trainer:1", env: [{ name: "MAMBALIGN_TRAINER_MAX_JOBS", value: "1" }], resources: { limits: { "nvidia.com/gpu": "8" } } }],
      },
    },
  },
});

async function setup(maxConcurrent: number, intervalMs = 3_600_000) {
  const api = await new KubeApiSubstitute().start();
  let outstanding = 0;
  const launcher = new JobLauncher({
    kubeConfig: substituteKubeConfig(api.url),
    namespace: NS,
    template: parseJobTemplate(TEMPLATE),
    maxConcurrent,
    outstanding: async () => outstanding,
    intervalMs,
    logger: createLogger("test", "silent"),
    metrics: new Metrics({ defaultMetrics: false }),
  });
  return { api, launcher, setOutstanding: (n: number) => (outstanding = n) };
}

const complete = { conditions: [{ type: "Complete", status: "True" }], succeeded: 1 };

test("job launcher — one Job per queued stage, from the template, bounded by maxConcurrent — against a local Kubernetes API substitute (not a cluster)", async (t) => {
  const { api, launcher, setOutstanding } = await setup(2);
  t.after(() => api.stop());
  setOutstanding(3);
  const first = await launcher.reconcile();
  assert.equal(first.created.length, 2);
  const jobs = api.listJobs(NS);
  assert.equal(jobs.length, 2);
  for (const j of jobs) {
    assert.match(j.metadata.name, /^mambalign-trainer-/);
    assert.equal(j.metadata.labels["kueue.x-k8s.io/queue-name"], "gpu");
    assert.equal(j.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"], "8");
  }
  // Nothing changed: no duplicates.
  assert.deepEqual((await launcher.reconcile()).created, []);
  // One stage finished and was acked: its Job is Complete, two stages remain, one slot frees up.
  api.setJobStatus(NS, jobs[0]!.metadata.name, complete);
  setOutstanding(2);
  const third = await launcher.reconcile();
  assert.deepEqual({ unfinished: third.unfinished, created: third.created.length }, { unfinished: 1, created: 1 });
  assert.equal(api.listJobs(NS).length, 3);
});

test("job launcher — an empty queue creates no Jobs — against a local Kubernetes API substitute (not a cluster)", async (t) => {
  const { api, launcher } = await setup(8);
  t.after(() => api.stop());
  assert.deepEqual(await launcher.reconcile(), { outstanding: 0, unfinished: 0, created: [] });
  assert.equal(api.requests.filter((r) => r.method === "POST").length, 0);
});

test("job launcher — Jobs of other releases are not counted as its own — against a local Kubernetes API substitute (not a cluster)", async (t) => {
  const { api, launcher, setOutstanding } = await setup(4);
  t.after(() => api.stop());
  const other = JSON.parse(TEMPLATE);
  other.metadata.labels["app.kubernetes.io/instance"] = "other-release";
  const res = await fetch(`${api.url}/apis/batch/v1/namespaces/${NS}/jobs`, { method: "POST", body: JSON.stringify(other) });
  assert.equal(res.status, 201);
  setOutstanding(1);
  assert.equal((await launcher.reconcile()).created.length, 1);
});

test("job launcher — a watched Job finishing starts the next stage without waiting for the timer — against a local Kubernetes API substitute (not a cluster)", async (t) => {
  const { api, launcher, setOutstanding } = await setup(1);
  t.after(async () => {
    await launcher.stop();
    await api.stop();
  });
  setOutstanding(2);
  const firstCreated = once(api, "job");
  await launcher.start();
  const [type, job] = (await firstCreated) as [string, { metadata: { name: string } }];
  assert.equal(type, "ADDED");
  // The timer is an hour away, so only the watch event can trigger the second creation.
  const secondCreated = new Promise<string>((resolve) =>
    api.on("job", (ty: string, j: { metadata: { name: string } }) => {
      if (ty === "ADDED") resolve(j.metadata.name);
    }),
  );
  setOutstanding(1);
  api.setJobStatus(NS, job.metadata.name, complete);
  const second = await secondCreated;
  assert.notEqual(second, job.metadata.name);
  assert.equal(api.listJobs(NS).length, 2);
});

test("job template — bad templates are refused naming the key", () => {
  assert.throws(() => parseJobTemplate("{"), /not valid JSON/);
  const t = JSON.parse(TEMPLATE);
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
