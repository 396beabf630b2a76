import assert from "node:assert/strict";
import { test } from "node:test";
import { checkRecipe } from "@mambalign/core";
import { demoRecipeYaml } from "./demo-recipe.js";

test("demo recipe — checks clean, and each training stage checkpoints before it ends", () => {
  const { recipe, issues, ok } = checkRecipe(demoRecipeYaml("/demo/data"), { baseDir: "/demo" });
  assert.equal(ok, true);
  assert.deepEqual(issues, []);
  for (const stage of [recipe.sft!, recipe.dpo!]) {
    const { saveSteps, maxSteps } = stage.args!;
    assert.ok(saveSteps < maxSteps, `save_steps ${saveSteps} < max_steps ${maxSteps}`);
  }
});
