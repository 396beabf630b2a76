import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO, parseManifests } from "./helm.js";
import { validateManifest } from "./k8s-schema.js";

test("k8s manifests — k8s/mambalign.yaml matches scripts/render-k8s.sh output (re-run it after changing the chart)", (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "render-k8s-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync("bash", [path.join(REPO, "scripts/render-k8s.sh"), dir], { stdio: "pipe" });
  const fresh = readFileSync(path.join(dir, "mambalign.yaml"), "utf8");
  const committed = readFileSync(path.join(REPO, "k8s/mambalign.yaml"), "utf8");
  assert.ok(fresh === committed, "k8s/mambalign.yaml is stale: run scripts/render-k8s.sh");
});

test("k8s manifests — the plain manifests are schema-valid", async () => {
  const docs = parseManifests(readFileSync(path.join(REPO, "k8s/mambalign.yaml"), "utf8"));
  assert.ok(docs.length > 10);
  for (const d of docs) await validateManifest(d);
});

test("k8s manifests — Kueue examples are valid and reference each other", async () => {
  const dir = path.join(REPO, "k8s/kueue");
  const docs = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseManifests(readFileSync(path.join(dir, f), "utf8")));
  for (const d of docs) await validateManifest(d);
  const flavors = docs.filter((d) => d.kind === "ResourceFlavor");
  assert.deepEqual(flavors.map((f) => f.metadata.name).sort(), ["a100", "h100"]);
  assert.ok(flavors.find((f) => f.metadata.name === "a100")!.spec.nodeLabels["nvidia.com/gpu.product"].includes("A100"));
  assert.ok(flavors.find((f) => f.metadata.name === "h100")!.spec.nodeLabels["nvidia.com/gpu.product"].includes("H100"));
  const cq = docs.find((d) => d.kind === "ClusterQueue")!;
  for (const g of cq.spec.resourceGroups) {
    assert.ok(g.coveredResources.includes("nvidia.com/gpu"));
    for (const f of g.flavors) assert.ok(flavors.some((x) => x.metadata.name === f.name), `flavor ${f.name} is defined`);
  }
  const lq = docs.find((d) => d.kind === "LocalQueue")!;
  assert.equal(lq.spec.clusterQueue, cq.metadata.name);
  // The README's Kueue install command names this LocalQueue.
  const readme = readFileSync(path.join(REPO, "k8s/README.md"), "utf8");
  assert.ok(readme.includes(`trainer.job.kueue.queueName=${lq.metadata.name}`));
});
