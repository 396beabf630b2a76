import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { PLUMBING_KEYS } from "./plumbing-keys.js";
import { STAGE_KEYS } from "./stage-keys.js";

const readme = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "README.md"), "utf8");

test("stage keys — README's defaults table documents every key", () => {
  for (const key of [...STAGE_KEYS.map((k) => k.key), "lora_map_to_mamba", "exact_match_dataset", "max_new_tokens", "batch_size"]) {
    assert.match(readme, new RegExp(`^\\| \`${key}\`( \\((ours|eval)\\))? \\|`, "m"), `README lacks a row for ${key}`);
  }
});

test("stage keys — no key is both mapped and plumbing", () => {
  for (const k of STAGE_KEYS) assert.equal(k.key in PLUMBING_KEYS, false, k.key);
});
