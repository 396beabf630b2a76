import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { checkRecipe } from "./check-recipe.js";
import { recipeToYaml } from "./recipe-yaml.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(name) ? [p] : [];
  });
}

const DEMO = `
name: demo
model_name_or_path: preset:tiny-mamba-char
stages: [sft, merge, dpo, eval]
datasets:
  demo-sft: ./data/sft_train.jsonl
  heldout: ./data/heldout.jsonl
torch_dtype: float32
sft:
  dataset_mixer: { demo-sft: 1.0, s3://bucket/more/sft.jsonl: 0.5 }
  learning_rate: 1.0e-3
  use_peft: true
  lora_target_modules: in_proj,x_proj
  assistant_only_loss: true
  chat_template: "{% for m in messages %}\\n{{ m['content'] }}  \\n{% endfor %}"
dpo:
  dataset_mixer: { ./data/prefs.jsonl: 1.0 }
  beta: 0.2
  loss_type: ipo
eval: { exact_match_dataset: heldout, max_new_tokens: 16, batch_size: 32 }
`;

test("recipe yaml — recipeToYaml then checkRecipe gives the same Recipe", () => {
  const sources = [
    { text: DEMO, opts: { baseDir: "/srv/demo" } },
    ...yamlFiles(path.join(repoRoot, "examples/recipes")).map((f) => ({
      text: readFileSync(f, "utf8"),
      opts: { baseDir: path.dirname(f), source: f },
    })),
  ];
  for (const { text, opts } of sources) {
    const first = checkRecipe(text, opts);
    assert.equal(first.ok, true, JSON.stringify(first.issues));
    const yaml = recipeToYaml(first.recipe);
    const second = checkRecipe(yaml, {});
    assert.equal(second.ok, true, JSON.stringify(second.issues));
    assert.deepEqual(second.recipe, first.recipe, `${opts.baseDir}\n${yaml}`);
    // Reading the normalised form again finds nothing new (keys gain a section prefix: "optim" -> "dpo.optim").
    const bare = (key: string) => key.replace(/^(sft|dpo)\./, "");
    assert.ok(
      second.issues.every((i) => first.issues.some((j) => bare(j.key) === bare(i.key) && j.message === i.message)),
      JSON.stringify(second.issues),
    );
  }
});

test("recipe yaml — the normalised form uses handbook keys and lists every resolved setting", () => {
  const yaml = recipeToYaml(checkRecipe(DEMO, { baseDir: "/srv/demo" }).recipe);
  assert.match(yaml, /^stages:\n {2}- sft\n {2}- merge\n {2}- dpo\n {2}- eval$/m);
  assert.match(yaml, /^ {2}lora_target_modules:\n {4}- in_proj\n {4}- x_proj$/m);
  assert.match(yaml, /^ {2}per_device_train_batch_size: 8$/m);
  assert.match(yaml, /^ {2}lr_scheduler_type: cosine$/m);
  const doc = YAML.parse(yaml) as Record<string, Record<string, unknown>>;
  assert.equal(doc["sft"]!["lora_r"], 16);
  assert.equal(doc["dpo"]!["use_peft"], false);
  assert.equal("lora_r" in doc["dpo"]!, false); // no LoRA in dpo: its lora_* keys would mean nothing
  assert.equal("beta" in doc["sft"]!, false);
  assert.equal(doc["eval"]!["exact_match_dataset"], "heldout"); // named through datasets, as written
});
