// Stages as a recipe resolves them, for tests that publish jobs or write runtime specs without a recipe: the
// runtime fills no default, so a job must carry what the recipe would have resolved.
import type { StageRecipe, TrainingArgs } from "../src/gen/mambalign/v1/recipe.js";
import { parseRecipe } from "../src/recipe/parse-recipe.js";

/** An SFT or DPO stage on the preset model with every key at its default. */
export function resolvedStage(kind: "sft" | "dpo"): StageRecipe {
  const yaml = [
    "model_name_or_path: preset:tiny-mamba-char",
    "stages: [sft, merge, dpo]",
    "sft: { dataset_mixer: { /data/sft.jsonl: 1 } }",
    "dpo: { dataset_mixer: { /data/prefs.jsonl: 1 } }",
  ].join("\n");
  return parseRecipe(yaml).recipe[kind]!;
}

/** The resolved training arguments of an SFT or DPO stage, `over` on top. */
export function resolvedTrainingArgs(kind: "sft" | "dpo", over: Partial<TrainingArgs> = {}): TrainingArgs {
  return { ...resolvedStage(kind).args!, ...over };
}
