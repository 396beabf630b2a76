import { test } from "node:test";
import assert from "node:assert/strict";
import { Metrics, createLogger } from "@mambalign/core";
import { PoolAutoscaler } from "./pool-autoscaler.js";
import { KubeApiSubstitute } from "./testing/kube-api-substitute.js";
import { substituteKubeConfig } from "./testing/kube-config.js";

test("pool autoscaler — follows the queue up, holds through the window, then scales to zero, by merge-patching deployments/scale — against a local Kubernetes API substitute (not a cluster)", async (t) => {
  const api = await new KubeApiSubstitute().start();
  t.after(() => api.stop());
  api.addDeployment("ml", "mambalign-trainer", 0);
  let outstanding = 0;
  let now = 1_000_000;
  const scaler = new PoolAutoscaler({
    kubeConfig: substituteKubeConfig(api.url),
    namespace: "ml",
    deployment: "mambalign-trainer",
    bounds: { min: 0, max: 3, scaleDownStabilisationMs: 300_000, cooldownMs: 60_000 },
    outstanding: async () => outstanding,
    intervalMs: 10_000,
    logger: createLogger("test", "silent"),
    metrics: new Metrics({ defaultMetrics: false }),
    now: () => now,
  });

  assert.equal((await scaler.tick()).replicas, 0, "empty queue, nothing to do");
  assert.equal(api.requests.filter((r) => r.method === "PATCH").length, 0, "no patch when nothing changes");

  outstanding = 5;
  assert.equal((await scaler.tick()).reason, "scale-up");
  assert.equal(api.replicas("ml", "mambalign-trainer"), 3, "capped at max");
  const patch = api.requests.find((r) => r.method === "PATCH")!;
  assert.equal(patch.path, "/apis/apps/v1/namespaces/ml/deployments/mambalign-trainer/scale");
  assert.equal(patch.contentType, "application/merge-patch+json");

  outstanding = 0;
  now += 120_000;
  assert.equal((await scaler.tick()).reason, "stabilising");
  assert.equal(api.replicas("ml", "mambalign-trainer"), 3);

  now += 301_000;
  assert.equal((await scaler.tick()).reason, "scale-down");
  assert.equal(api.replicas("ml", "mambalign-trainer"), 0, "to zero when idle");
});

test("pool autoscaler — a missing Deployment is an error, not a silent no-op — against a local Kubernetes API substitute (not a cluster)", async (t) => {
  const api = await new KubeApiSubstitute().start();
  t.after(() => api.stop());
  const scaler = new PoolAutoscaler({
    kubeConfig: substituteKubeConfig(api.url),
    namespace: "ml",
    deployment: "absent",
    bounds: { min: 0, max: 3, scaleDownStabilisationMs: 0, cooldownMs: 0 },
    outstanding: async () => 1,
    intervalMs: 10_000,
    logger: createLogger("test", "silent"),
    metrics: new Metrics({ defaultMetrics: false }),
  });
  await assert.rejects(scaler.tick(), /404|not found/i);
});
