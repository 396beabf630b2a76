// recipe — the GPU image's declared capabilities are what the image installs (image builds cannot run
// here: this reads the files the build reads, and the GPU machine runs QLoRA for real).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../test-support/test-data.js";
import { GPU_IMAGE_WORKER } from "./worker-capabilities.js";

const read = (rel: string) => readFileSync(path.join(REPO_ROOT, rel), "utf8");

/** name==version pins of a requirements file. */
function pins(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);
}

test("recipe — the GPU image's declared packages are pinned alike in requirements-gpu.txt and the runtime's gpu extras", () => {
  const gpu = pins(read("services/runtime/requirements-gpu.txt"));
  assert.deepEqual(gpu.map((p) => p.split("==")[0]).sort(), [...GPU_IMAGE_WORKER.packages].sort());
  for (const p of gpu) assert.match(p, /^[\w.-]+==[\w.]+$/, `${p} is an exact pin`);
  const extras = /^gpu = \[(.*)\]$/m.exec(read("services/runtime/pyproject.toml"));
  assert.ok(extras, "pyproject.toml has optional-dependencies gpu");
  assert.deepEqual([...extras[1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]).sort(), [...gpu].sort());
  assert.ok(gpu.includes("bitsandbytes==0.50.2"));
});

test("recipe — the trainer image installs requirements-gpu.txt (what recipe check trusts it to carry)", () => {
  const dockerfile = read("docker/trainer.Dockerfile");
  assert.match(dockerfile, /^RUN pip install [^\n]*-r services\/runtime\/requirements-gpu\.txt/m);
});
