// What StartRun accepts beyond `recipe check`: the server cannot resolve relative paths (the CLI
// makes them absolute against the recipe file first) and reads JSONL or Parquet files; Hub dataset ids
// go to the datasets service, which downloads them (or fails the run saying how to supply a file).
import path from "node:path";
import { ApiError, checkRecipe, type Recipe, type RecipeIssue, Stage } from "@mambalign/core";

export interface AcceptedRecipe {
  recipe: Recipe;
  warnings: RecipeIssue[];
}

interface Problem {
  key: string;
  message: string;
}

/**
 * Largest recipe a run accepts. The run record (recipe inside, plus the run's progress) is one NATS
 * message (1 MiB by default): a recipe of this size leaves it room. Real recipes are a few KiB.
 */
export const MAX_RECIPE_BYTES = 256 * 1024;

/** Parses and checks a recipe for a run; throws INVALID_ARGUMENT naming the first key at fault. */
export function acceptRecipe(yamlText: string): AcceptedRecipe {
  const size = Buffer.byteLength(yamlText, "utf8");
  if (size > MAX_RECIPE_BYTES) {
    throw ApiError.invalidArgument("recipe_yaml", `is ${size} bytes; the limit is ${MAX_RECIPE_BYTES} bytes (keep data in dataset files, not in the recipe)`);
  }
  if (!yamlText.trim()) throw ApiError.invalidArgument("recipe_yaml", "is empty: send the recipe's YAML text");
  const { recipe, issues, ok } = checkRecipe(yamlText);
  const problems: Problem[] = ok ? runProblems(recipe) : issues.filter((i) => i.fatal);
  if (problems.length > 0) {
    const first = problems[0]!;
    const all = problems.map((p) => `${p.key}: ${p.message}`).join("; ");
    throw ApiError.invalidArgument(first.key, problems.length === 1 ? first.message : `${first.message} (all problems: ${all})`, {
      key: first.key,
      issues: problems,
    });
  }
  return { recipe, warnings: issues.filter((i) => !i.fatal) };
}

const S3 = /^s3:\/\//;

/** Checks that only a run needs: every data source usable by the datasets service from the server. */
function runProblems(recipe: Recipe): Problem[] {
  const problems: Problem[] = [];
  const mixers: [string, Record<string, number>][] = [];
  if (recipe.stages.includes(Stage.STAGE_SFT)) mixers.push(["sft", recipe.sft?.args?.datasetMixer ?? {}]);
  if (recipe.stages.includes(Stage.STAGE_DPO)) mixers.push(["dpo", recipe.dpo?.args?.datasetMixer ?? {}]);

  const checkSource = (key: string, src: string) => {
    if (!S3.test(src) && !path.isAbsolute(src)) {
      problems.push({ key, message: `relative path "${src}": the server cannot tell what it is relative to; use an absolute path or an s3:// URI (\`mambalign run\` resolves paths against the recipe file)` });
    } else if (!/\.(jsonl|parquet)$/i.test(src)) {
      const ext = path.extname(src) || "(no extension)";
      problems.push({ key, message: `unknown dataset format ${ext} of "${src}": datasets are read as JSON Lines (.jsonl) or Parquet (.parquet)` });
    }
  };

  for (const [stage, mixer] of mixers) {
    for (const name of Object.keys(mixer)) {
      const src = recipe.datasetSources[name];
      // Not under datasets: a Hub dataset id (recipe check vetted its form); the datasets service fetches it.
      if (src === undefined) continue;
      // A mixer name that is itself a path maps to itself; a datasets: entry is reported under datasets.
      checkSource(src === name ? `${stage}.dataset_mixer.${name}` : `datasets.${name}`, src);
    }
  }
  const em = recipe.eval?.exactMatchDataset ?? "";
  if (recipe.stages.includes(Stage.STAGE_EVAL) && em) {
    const named = Object.entries(recipe.datasetSources).find(([, src]) => src === em)?.[0];
    checkSource(named ? `datasets.${named}` : "eval.exact_match_dataset", em);
  }
  const model = recipe.model?.uri ?? "";
  const localModel = model.startsWith(".") || model.startsWith("~");
  if (localModel) {
    problems.push({ key: "model_name_or_path", message: `relative path "${model}": use an absolute path, an s3:// URI, a Hub id or preset:<name>` });
  }
  // Deduplicate: a datasets: entry used by both stages is one problem.
  const seen = new Set<string>();
  return problems.filter((p) => (seen.has(p.key) ? false : (seen.add(p.key), true)));
}
