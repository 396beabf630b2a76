import { test } from "node:test";
import assert from "node:assert/strict";
import { validateManifest } from "./k8s-schema.js";

const deployment = () => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "d" },
  spec: {
    selector: { matchLabels: { a: "b" } },
    template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "i", resources: { limits: { cpu: "1" } } }] } },
  },
});

test("manifest validation — accepts a well-formed Deployment", async () => {
  await validateManifest(deployment());
});

test("manifest validation — refuses a wrong type, a missing required field and a misspelt key", async () => {
  const wrongType: any = deployment();
  wrongType.spec.replicas = "two";
  await assert.rejects(validateManifest(wrongType), /Deployment\/d: schema:.*replicas/s);
  const missing: any = deployment();
  delete missing.spec.template.spec.containers[0].name;
  await assert.rejects(validateManifest(missing), /name/);
  const typo: any = deployment();
  typo.spec.template.spec.containers[0].resource = typo.spec.template.spec.containers[0].resources;
  await assert.rejects(validateManifest(typo), /unknown field "resource"/);
});

test("manifest validation — CRDs are checked for their required fields", async () => {
  await assert.rejects(validateManifest({ apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject", metadata: { name: "s" }, spec: { scaleTargetRef: { name: "t" }, triggers: [{ type: "nats-jetstream", metadata: { stream: "JOBS" } }] } }), /natsServerMonitoringEndpoint/);
  await assert.rejects(validateManifest({ apiVersion: "kueue.x-k8s.io/v1beta1", kind: "LocalQueue", metadata: { name: "q", namespace: "ml" }, spec: {} }), /clusterQueue/);
  await assert.rejects(validateManifest({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }), /unknown apiVersion\/kind/);
});
