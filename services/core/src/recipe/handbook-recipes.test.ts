import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { Stage } from "../gen/mambalign/v1/common.js";
import { checkRecipe } from "./check-recipe.js";
import { draftOf, STAGE_KEY_BY_NAME } from "./stage-keys.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const recipesDir = path.join(repoRoot, "examples/recipes/handbook");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(name) ? [p] : [];
  });
}

const files = yamlFiles(recipesDir).sort();

describe("recipe — alignment-handbook Zephyr recipes", () => {
  test("the handbook recipes are there to check", () => {
    assert.ok(files.length >= 6, `expected the handbook recipes under ${recipesDir}`);
  });

  for (const file of files) {
    const rel = path.relative(recipesDir, file);
    test(`${rel} parses with ok=true and every key is mapped or explained`, () => {
      const text = readFileSync(file, "utf8");
      const raw = YAML.parse(text) as Record<string, unknown>;
      const { recipe, issues, ok } = checkRecipe(text, { source: file });
      assert.equal(ok, true, JSON.stringify(issues.filter((i) => i.fatal)));

      const isDpo = rel.includes("/dpo/");
      assert.deepEqual(recipe.stages, [isDpo ? Stage.STAGE_DPO : Stage.STAGE_SFT]);
      const stage = isDpo ? recipe.dpo : recipe.sft;
      assert.ok(stage);
      const draft = draftOf(stage);

      for (const [key, value] of Object.entries(raw)) {
        const spec = STAGE_KEY_BY_NAME.get(key);
        if (key === "model_name_or_path") {
          assert.equal(recipe.model?.uri, value);
        } else if (key === "model_revision") {
          assert.equal(recipe.model?.revision, value);
        } else if (spec && value === null) {
          // YAML null means "unset", as in the handbook: the documented default applies.
          assert.notEqual(spec.get(draft), "", `${rel}: ${key}`);
        } else if (spec) {
          // The value the user wrote is the value the run gets.
          assert.deepEqual(spec.get(draft), spec.schema.parse(value), `${rel}: ${key}`);
        } else {
          assert.ok(
            issues.some((i) => i.key === key),
            `${rel}: key ${key} is neither mapped nor explained by an issue`,
          );
        }
      }
    });
  }

  test("QLoRA SFT recipe: LoRA settings, 4-bit base and bf16 land in the recipe", () => {
    const file = path.join(recipesDir, "zephyr-7b-beta/sft/config_qlora.yaml");
    const { recipe } = checkRecipe(readFileSync(file, "utf8"));
    const args = recipe.sft!.args!;
    assert.deepEqual(args.lora, {
      enabled: true,
      r: 16,
      alpha: 16,
      dropout: 0.05,
      targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
      modulesToSave: [],
      loadIn4bit: true,
    });
    assert.equal(args.torchDtype, "bfloat16");
    assert.equal(args.bf16, true);
    assert.equal(args.learningRate, 2e-4);
    assert.deepEqual(args.datasetMixer, { "HuggingFaceH4/ultrachat_200k": 1 });
    assert.match(args.chatTemplate, /<\|assistant\|>/);
    assert.equal(recipe.name, "zephyr-7b-sft-qlora");
  });

  test("full DPO recipe: torch_dtype null means float32, DPO keys land in dpo", () => {
    const file = path.join(recipesDir, "zephyr-7b-beta/dpo/config_full.yaml");
    const { recipe } = checkRecipe(readFileSync(file, "utf8"));
    assert.equal(recipe.dpo!.args!.torchDtype, "float32");
    assert.deepEqual(recipe.dpo!.dpo, { beta: 0.01, lossType: "sigmoid", maxLength: 1024, maxPromptLength: 512, rpoAlpha: 0 });
    assert.equal(recipe.dpo!.args!.lora!.enabled, false);
    assert.equal(recipe.sft, undefined);
  });
});
