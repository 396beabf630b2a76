// Prepares a run's datasets through the DatasetService (content-addressed, so preparing again is free).
import {
  ApiError,
  callUnary,
  DatasetKind,
  type DatasetServiceClient,
  type DatasetSource,
  type DatasetVersion,
  type ObjectStore,
  type Recipe,
  Stage,
  toApiError,
  withRetry,
} from "@mambalign/core";
import type { RunDatasets } from "./run-machine.js";

export const DATASET_PREP = {
  /** Rows of the training data held out (deterministically) as its test split. */
  trainTestFraction: 0.1,
  /** The exact-match question set is used whole: every row lands in its train split. */
  evalTestFraction: 0,
  /** A datasets service that is down or restarting gets this many more tries (backoff up to 20 s). */
  retry: { retries: 6, baseDelayMs: 500, maxDelayMs: 20_000 },
} as const;

/** A preparation failure, with the stage's data it concerns; the run fails with its message. */
export class DatasetPrepError extends ApiError {
  override name = "DatasetPrepError";
  constructor(
    readonly which: "sft" | "dpo" | "eval",
    override readonly cause: ApiError,
  ) {
    super(cause.code, `preparing the ${which} dataset failed: ${cause.message}`, cause.details, { cause });
  }
}

function mixerSources(recipe: Recipe, mixer: Record<string, number>): DatasetSource[] {
  return Object.entries(mixer).map(([name, fraction]) => ({ uri: recipe.datasetSources[name] ?? name, fraction }));
}

/**
 * The datasets service names `sources[i]...`, a field of our request the user never wrote: name the
 * recipe key that source came from instead (`sft.dataset_mixer.<name>`, `eval.exact_match_dataset`).
 */
function inRecipeTerms(err: ApiError, which: "sft" | "dpo" | "eval", names: readonly string[]): ApiError {
  const field = err.details.field ?? "";
  const m = /^sources\[(\d+)\]/.exec(field);
  const name = m ? names[Number(m[1])] : undefined;
  if (name === undefined) return err;
  const key = which === "eval" ? "eval.exact_match_dataset" : `${which}.dataset_mixer.${name}`;
  const text = err.message.startsWith(`${field}: `) ? err.message.slice(field.length + 2) : err.message;
  return new ApiError(err.code, `${key}: ${text}`, { ...err.details, field: key }, { cause: err });
}

/** Dataset names are lower-case `[a-z0-9][a-z0-9._-]{0,62}` (they become KV keys). */
export function datasetName(recipeName: string, which: string): string {
  const name = `${recipeName}-${which}`.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/\.{2,}/g, ".").replace(/^[^a-z0-9]+/, "");
  return name.slice(-63).replace(/^[^a-z0-9]+/, "").replace(/\.$/, "") || which;
}

/** What a job needs of a dataset version (its splits' keys and hashes), without the quarantine sample and sources. */
function forJobs(v: DatasetVersion): DatasetVersion {
  return { ...v, quarantineSample: [], sources: [] };
}

/**
 * Prepares the SFT and preference training data (each with a held-out test split) and the eval
 * stage's exact-match question set, which is validated and normalised like any SFT data and then
 * read whole from its train split.
 */
export async function prepareRunDatasets(client: DatasetServiceClient, store: ObjectStore, recipe: Recipe): Promise<RunDatasets> {
  const out: RunDatasets = { sft: "", dpo: "", evalQuestions: "", sftData: undefined, dpoData: undefined };
  const prepare = async (
    which: "sft" | "dpo" | "eval",
    names: readonly string[],
    sources: DatasetSource[],
    kind: DatasetKind,
    testFraction: number,
    seed: number,
    splits: string[] = [],
  ) => {
    try {
      const res = await withRetry(
        () => callUnary(client.prepareDataset.bind(client), { sources, kind, testFraction, seed, name: datasetName(recipe.name, which), splits }),
        (err) => toApiError(err).retryable,
        DATASET_PREP.retry,
      );
      const version = res.dataset;
      if (!version?.id) throw new Error("the datasets service returned no dataset version");
      return version;
    } catch (err) {
      throw new DatasetPrepError(which, inRecipeTerms(toApiError(err), which, names));
    }
  };
  const training = [["sft", Stage.STAGE_SFT, DatasetKind.DATASET_KIND_SFT], ["dpo", Stage.STAGE_DPO, DatasetKind.DATASET_KIND_PREFERENCE]] as const;
  for (const [which, stage, kind] of training) {
    const args = recipe[which]?.args;
    if (!recipe.stages.includes(stage) || !args) continue;
    const data = forJobs(await prepare(which, Object.keys(args.datasetMixer), mixerSources(recipe, args.datasetMixer), kind, DATASET_PREP.trainTestFraction, args.seed, args.datasetSplits));
    Object.assign(out, which === "sft" ? { sft: data.id, sftData: data } : { dpo: data.id, dpoData: data });
  }
  const em = recipe.eval?.exactMatchDataset ?? "";
  if (recipe.stages.includes(Stage.STAGE_EVAL) && em) {
    const version = await prepare("eval", [em], [{ uri: em, fraction: 1 }], DatasetKind.DATASET_KIND_SFT, DATASET_PREP.evalTestFraction, 0);
    const train = version.splits.find((s) => s.name === "train");
    if (!train?.key) throw new DatasetPrepError("eval", toApiError(new Error(`dataset ${version.id} has no train split`)));
    out.evalQuestions = store.uri(train.key);
  }
  return out;
}
