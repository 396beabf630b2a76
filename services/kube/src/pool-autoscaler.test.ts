import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AppsV1Api } from "@kubernetes/client-node";
import { Metrics, createLogger } from "@mambalign/core";
import { PoolAutoscaler } from "./pool-autoscaler.js";
import { type KubeCluster, eventually, startKubeCluster } from "../test-support/kube-cluster.js";

// On a real API server with kwok's fake GPU nodes (testing/kube-cluster.ts); the chart's Deployment and the
// autoscaler's own ServiceAccount are exercised in test/kube/chart-on-apiserver.test.ts.
let cluster: KubeCluster;
before(async () => {
  cluster = await startKubeCluster();
  await cluster.createNamespace("ml");
  await cluster.kubeConfig().makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: "ml",
    body: {
      metadata: { name: "mambalign-trainer" },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: "trainer" } },
        template: {
          metadata: { labels: { app: "trainer" } },
          spec: {
            tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
            containers: [{ name: "trainer", image: "trainer:1", resources: { limits: { "nvidia.com/gpu": "4" } } }],
          },
        },
      },
    },
  });
});
after(() => cluster?.stop());

const scalerFor = (deployment: string, outstanding: () => Promise<number>, now: () => number = Date.now) =>
  new PoolAutoscaler({
    kubeConfig: cluster.kubeConfig(),
    namespace: "ml",
    deployment,
    bounds: { min: 0, max: 3, scaleDownStabilisationMs: 300_000, cooldownMs: 60_000 },
    outstanding,
    intervalMs: 10_000,
    logger: createLogger("test", "silent"),
    metrics: new Metrics({ defaultMetrics: false }),
    now,
  });

test("pool autoscaler — follows the queue up, holds through the window, then scales to zero, through deployments/scale — on a real API server", { timeout: 120_000 }, async () => {
  const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
  const replicas = async () => (await apps.readNamespacedDeployment({ name: "mambalign-trainer", namespace: "ml" })).spec!.replicas;
  let outstanding = 0;
  let now = 1_000_000;
  const scaler = scalerFor("mambalign-trainer", async () => outstanding, () => now);
  // generation counts writes of the spec (the scale subresource included); the controller manager's
  // status updates move resourceVersion but not generation.
  const generation = async () => (await apps.readNamespacedDeployment({ name: "mambalign-trainer", namespace: "ml" })).metadata!.generation;
  const before = await generation();
  assert.equal((await scaler.tick()).replicas, 0, "empty queue, nothing to do");
  assert.equal(await generation(), before, "no write when nothing changes");

  outstanding = 5;
  assert.equal((await scaler.tick()).reason, "scale-up");
  assert.equal(await replicas(), 3, "capped at max");
  // The Deployment really grows: 3 pods scheduled on the GPU nodes and made Ready by kwok.
  await eventually("3 trainer pods Ready", async () => (await apps.readNamespacedDeployment({ name: "mambalign-trainer", namespace: "ml" })).status?.readyReplicas === 3);

  outstanding = 0;
  now += 120_000;
  assert.equal((await scaler.tick()).reason, "stabilising");
  assert.equal(await replicas(), 3);

  now += 301_000;
  assert.equal((await scaler.tick()).reason, "scale-down");
  assert.equal(await replicas(), 0, "to zero when idle");
});

test("pool autoscaler — a missing Deployment is an error, not a silent no-op — on a real API server", { timeout: 60_000 }, async () => {
  await assert.rejects(scalerFor("absent", async () => 1).tick(), /404|not found/i);
});
