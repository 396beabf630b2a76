// The runtime fills no default (services/runtime/mambalign_runtime/train_args.py): its tests build specs on a
// fixture of this module's resolution, which must stay equal to it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { StageRecipe } from "../gen/mambalign/v1/recipe.js";
import { resolvedStage } from "../../test-support/resolved-args.js";

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../runtime/tests/fixtures/recipe-defaults.json");

function resolvedJson(kind: "sft" | "dpo"): Record<string, any> {
  const json = StageRecipe.toJSON(resolvedStage(kind)) as Record<string, any>;
  delete json.args.datasetMixer;
  delete json.args.datasetSplits;
  return json;
}

test("recipe defaults — the runtime tests' fixture is the recipe's resolution of every default", () => {
  const fixture = JSON.parse(readFileSync(FIXTURE, "utf8"));
  assert.deepEqual({ sft: resolvedJson("sft"), dpo: resolvedJson("dpo") }, { sft: fixture.sft, dpo: fixture.dpo });
});
