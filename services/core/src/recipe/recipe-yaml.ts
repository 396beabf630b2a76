// Normalised Recipe -> YAML in our multi-stage form with handbook (snake_case) keys. Every
// resolved value is written, so the file alone reproduces the run's settings.
import YAML from "yaml";
import type { Recipe, StageRecipe } from "../gen/mambalign/v1/recipe.js";
import type { StageKind } from "./stage-keys.js";
import { draftOf, STAGE_KEYS } from "./stage-keys.js";
import { stageName } from "./stages.js";

export function recipeToYaml(recipe: Recipe): string {
  const doc: Record<string, unknown> = { name: recipe.name, model_name_or_path: recipe.model?.uri ?? "" };
  if (recipe.model?.revision) doc["model_revision"] = recipe.model.revision;
  doc["stages"] = recipe.stages.map(stageName);
  if (Object.keys(recipe.datasetSources).length > 0) doc["datasets"] = { ...recipe.datasetSources };
  if (recipe.sft) doc["sft"] = stageToYaml(recipe.sft, "sft");
  if (recipe.dpo) doc["dpo"] = stageToYaml(recipe.dpo, "dpo");
  if (recipe.eval) {
    const e = recipe.eval;
    // Name the question set through datasets: when it is one of them, as the user would.
    const named = Object.entries(recipe.datasetSources).find(([, src]) => src === e.exactMatchDataset)?.[0];
    doc["eval"] = {
      ...(e.exactMatchDataset ? { exact_match_dataset: named ?? e.exactMatchDataset } : {}),
      max_new_tokens: e.maxNewTokens,
      batch_size: e.batchSize,
      ...(e.benchmarks.length ? { benchmarks: e.benchmarks } : {}),
      ...(e.limit ? { limit: e.limit } : {}),
      ...(e.benchMaxNewTokens ? { bench_max_new_tokens: e.benchMaxNewTokens } : {}),
      ...(e.benchDataDir ? { bench_data_dir: e.benchDataDir } : {}),
      ...(e.judgeModel ? { judge_model: e.judgeModel } : {}),
    };
  }
  // lineWidth 0: never fold long strings such as chat templates.
  return YAML.stringify(doc, { lineWidth: 0 });
}

function stageToYaml(stage: StageRecipe, kind: StageKind): Record<string, unknown> {
  const draft = draftOf(stage);
  const out: Record<string, unknown> = {};
  for (const spec of STAGE_KEYS) {
    if (spec.dpoOnly && kind === "sft") continue;
    // LoRA details mean nothing without use_peft; "" chat_template means the tokenizer's own.
    if (spec.group === "lora" && spec.key !== "use_peft" && !draft.lora.enabled) continue;
    if (spec.key === "chat_template" && draft.args.chatTemplate === "") continue;
    if (spec.key === "mlflow_tracking_uri" && draft.args.mlflowTrackingUri === "") continue; // the trainer's MLFLOW_TRACKING_URI
    if (spec.key === "gradient_accumulation_steps" && draft.args.globalBatchSize > 0) continue; // derived at run time
    out[spec.key] = spec.get(draft);
  }
  return out;
}
