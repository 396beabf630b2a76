import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Stage } from "../gen/mambalign/v1/common.js";
import { checkRecipe } from "./check-recipe.js";

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../examples/recipes");

function checkExample(name: string) {
  const file = path.join(examples, name);
  return checkRecipe(readFileSync(file, "utf8"), { baseDir: examples, source: file });
}

test("examples — mamba-2.8b-zephyr.yaml is a clean SFT -> merge -> DPO recipe with LoRA on Mamba's projections", () => {
  const { recipe, issues, ok } = checkExample("mamba-2.8b-zephyr.yaml");
  assert.equal(ok, true);
  assert.deepEqual(issues, []);
  assert.deepEqual(recipe.stages, [Stage.STAGE_SFT, Stage.STAGE_MERGE, Stage.STAGE_DPO]);
  assert.equal(recipe.model!.uri, "state-spaces/mamba-2.8b-hf");
  for (const stage of [recipe.sft!, recipe.dpo!]) {
    assert.deepEqual(stage.args!.lora!.targetModules, ["in_proj", "x_proj", "dt_proj", "out_proj"]);
    assert.equal(stage.args!.torchDtype, "float32");
    assert.equal(stage.args!.bf16, true);
  }
  assert.deepEqual(Object.keys(recipe.sft!.args!.datasetMixer), ["HuggingFaceH4/ultrachat_200k"]);
  assert.deepEqual(Object.keys(recipe.dpo!.args!.datasetMixer), ["HuggingFaceH4/ultrafeedback_binarized"]);
});

test("examples — mamba-original-project.yaml passes on the GPU image, warning about DPO on the base model and its learning rate", () => {
  const { recipe, issues, ok } = checkExample("mamba-original-project.yaml");
  assert.equal(ok, true);
  assert.deepEqual(recipe.stages, [Stage.STAGE_DPO]);
  const lora = recipe.dpo!.args!.lora!;
  assert.deepEqual(lora.targetModules, ["x_proj", "embeddings", "in_proj", "out_proj"]);
  assert.equal(lora.loadIn4bit, true);
  assert.equal(recipe.dpo!.args!.torchDtype, "float32");
  // Exactly these findings: 10× the handbook's rate, the unused output_dir, DPO from the base model (the GPU image carries bitsandbytes for QLoRA).
  assert.deepEqual(issues.map((i) => i.key).sort(), ["learning_rate", "model_name_or_path", "output_dir"]);
  assert.ok(issues.every((i) => !i.fatal));
  assert.match(issues.find((i) => i.key === "model_name_or_path")!.message, /base model/);
});
