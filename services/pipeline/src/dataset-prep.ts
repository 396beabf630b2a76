// Prepares a run's datasets through the DatasetService (content-addressed, so preparing again is free).
import {
  ApiError,
  callUnary,
  DatasetKind,
  type DatasetServiceClient,
  type DatasetSource,
  type Recipe,
  Stage,
  toApiError,
  withRetry,
} from "@mambalign/core";
import type { RunDatasets } from "./run-machine.js";

export const DATASET_PREP = {
  /** Rows of the training data held out (deterministically) as its test split. */
  trainTestFraction: 0.1,
  /** The exact-match question set is held out as a whole: every row in its test split. */
  evalTestFraction: 1.0,
  /** A datasets service that is down or restarting gets this many more tries (backoff up to 20 s). */
  retry: { retries: 6, baseDelayMs: 500, maxDelayMs: 20_000 },
} as const;

/** A preparation failure, with the stage's data it concerns; the run fails with its message. */
export class DatasetPrepError extends Error {
  override name = "DatasetPrepError";
  constructor(
    readonly which: "sft" | "dpo" | "eval",
    readonly cause: ApiError,
  ) {
    super(`preparing the ${which} dataset failed: ${cause.message}`, { cause });
  }
}

function mixerSources(recipe: Recipe, mixer: Record<string, number>): DatasetSource[] {
  return Object.entries(mixer).map(([name, fraction]) => ({ uri: recipe.datasetSources[name] ?? name, fraction }));
}

export async function prepareRunDatasets(client: DatasetServiceClient, recipe: Recipe): Promise<RunDatasets> {
  const out: RunDatasets = { sft: "", dpo: "", eval: "" };
  const prepare = async (which: "sft" | "dpo" | "eval", sources: DatasetSource[], kind: DatasetKind, testFraction: number, seed: number) => {
    try {
      const res = await withRetry(
        () => callUnary(client.prepareDataset.bind(client), { sources, kind, testFraction, seed, name: `${recipe.name}-${which}` }),
        (err) => toApiError(err).retryable,
        DATASET_PREP.retry,
      );
      const id = res.dataset?.id;
      if (!id) throw new ApiError(13, "the datasets service returned no dataset version");
      out[which] = id;
    } catch (err) {
      throw new DatasetPrepError(which, toApiError(err));
    }
  };
  if (recipe.stages.includes(Stage.STAGE_SFT) && recipe.sft?.args) {
    const args = recipe.sft.args;
    await prepare("sft", mixerSources(recipe, args.datasetMixer), DatasetKind.DATASET_KIND_SFT, DATASET_PREP.trainTestFraction, args.seed);
  }
  if (recipe.stages.includes(Stage.STAGE_DPO) && recipe.dpo?.args) {
    const args = recipe.dpo.args;
    await prepare("dpo", mixerSources(recipe, args.datasetMixer), DatasetKind.DATASET_KIND_PREFERENCE, DATASET_PREP.trainTestFraction, args.seed);
  }
  const em = recipe.eval?.exactMatchDataset ?? "";
  if (recipe.stages.includes(Stage.STAGE_EVAL) && em) {
    await prepare("eval", [{ uri: em, fraction: 1 }], DatasetKind.DATASET_KIND_SFT, DATASET_PREP.evalTestFraction, recipe.sft?.args?.seed ?? 42);
  }
  return out;
}
