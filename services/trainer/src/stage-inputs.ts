// Stages a job's inputs into its work dir: dataset splits, the input model/adapter version, the base model.
// The job carries them resolved (dataset versions, the input version's lineage): nothing is looked up here.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import {
  type AdapterVersion,
  ArtifactKind,
  type DatasetVersion,
  type ModelStager,
  type ObjectStore,
  sha256File,
  Stage,
  type StageJob,
} from "@mambalign/core";
import { badJob, dependencyFailure, JobFailure } from "./errors.js";

/** What the runtime spec points at, all local (or a preset/Hub id the runtime resolves itself). */
export interface StagedInputs {
  model: string;
  adapter: string;
  trainFile: string;
  evalFile: string;
}

/** The dataset version `id` as the job carries it (train_data / eval_data). */
function resolvedDataset(job: StageJob, id: string, field: string): DatasetVersion {
  const ds = [job.trainData, job.evalData].find((d) => d?.id === id);
  if (!ds) throw badJob(field, `dataset ${JSON.stringify(id)} not found in the job's resolved datasets (train_data, eval_data)`);
  return ds;
}

/** The registry version `id` as the job carries it (its lineage). */
function resolvedVersion(job: StageJob, id: string, field: string): AdapterVersion {
  const v = job.lineage.find((x) => x.id === id);
  if (!v) throw badJob(field, `version ${JSON.stringify(id)} not found in the job's resolved lineage`);
  return v;
}

/** Downloads one split of a dataset version and checks it against the sha256 the datasets service recorded. */
async function stageSplit(store: ObjectStore, ds: DatasetVersion, splitName: string, dir: string, field: string): Promise<string> {
  const split = ds.splits.find((s) => s.name === splitName);
  if (!split) throw badJob(field, `dataset ${ds.id} has no ${JSON.stringify(splitName)} split`);
  const file = path.join(dir, `${field}-${splitName}.jsonl`);
  try {
    await store.getFile(split.key, file);
  } catch (err) {
    throw dependencyFailure(`${field}: downloading ${split.key}`, err, field);
  }
  if (split.sha256) {
    const { sha256 } = await sha256File(file);
    if (sha256 !== split.sha256) {
      throw new JobFailure(`${field}: ${split.key} has sha256 ${sha256}, the dataset version says ${split.sha256}`, {
        retryable: false,
        field,
      });
    }
  }
  return file;
}

function hasRows(ds: DatasetVersion, split: string): boolean {
  return ds.splits.some((s) => s.name === split && s.rows > 0);
}

async function stageDatasets(store: ObjectStore, job: StageJob, dir: string): Promise<{ trainFile: string; evalFile: string }> {
  if (!job.trainDataset) throw badJob("trainDataset", `is empty; ${Stage[job.stage]} needs a dataset version`);
  const train = resolvedDataset(job, job.trainDataset, "trainDataset");
  const trainFile = await stageSplit(store, train, "train", dir, "trainDataset");
  // Held-out data: the eval dataset's test split (its only split if it has no test split),
  // else the training dataset's own test split when it has one.
  let evalFile = "";
  if (job.evalDataset) {
    const ev = job.evalDataset === job.trainDataset ? train : resolvedDataset(job, job.evalDataset, "evalDataset");
    evalFile = await stageSplit(store, ev, hasRows(ev, "test") || !hasRows(ev, "train") ? "test" : "train", dir, "evalDataset");
  } else if (hasRows(train, "test")) {
    evalFile = await stageSplit(store, train, "test", dir, "trainDataset");
  }
  return { trainFile, evalFile };
}

/**
 * Model and adapter for the runtime. A MODEL input (merged SFT model for DPO) is the model
 * itself; an ADAPTER input (SFT adapter for MERGE) goes on top of its parent model version, or
 * of the run's base model when it has no parent.
 */
async function stageModel(models: ModelStager, job: StageJob): Promise<{ model: string; adapter: string }> {
  const base = job.baseModel?.uri ?? "";
  if (!job.inputVersion) {
    if (job.stage === Stage.STAGE_MERGE) throw badJob("inputVersion", "is empty; MERGE needs the adapter version to merge");
    return { model: await models.ref(base, "baseModel.uri"), adapter: "" };
  }
  const input = resolvedVersion(job, job.inputVersion, "inputVersion");
  if (input.kind === ArtifactKind.ARTIFACT_KIND_MODEL) {
    if (job.stage === Stage.STAGE_MERGE) throw badJob("inputVersion", `${input.id} is a MODEL; MERGE needs an ADAPTER version`);
    return { model: await models.version(input, "inputVersion"), adapter: "" };
  }
  if (input.kind !== ArtifactKind.ARTIFACT_KIND_ADAPTER) {
    throw badJob("inputVersion", `${input.id} has kind ${ArtifactKind[input.kind]}; want MODEL or ADAPTER`);
  }
  const adapter = await models.version(input, "inputVersion");
  if (!input.parent) {
    const root = input.baseModel?.uri || base;
    return { model: await models.ref(root, "baseModel.uri"), adapter };
  }
  const parent = resolvedVersion(job, input.parent, "inputVersion.parent");
  if (parent.kind !== ArtifactKind.ARTIFACT_KIND_MODEL) {
    throw badJob("inputVersion", `${input.id} is an adapter on adapter ${parent.id}; merge ${parent.id} first (stacked adapters are not supported)`);
  }
  return { model: await models.version(parent, "inputVersion.parent"), adapter };
}

/** Models come through `models` (cached across jobs); dataset splits are downloaded into `dir`. */
export async function stageInputs(store: ObjectStore, models: ModelStager, job: StageJob, dir: string): Promise<StagedInputs> {
  await mkdir(dir, { recursive: true });
  const { model, adapter } = await stageModel(models, job);
  if (job.stage === Stage.STAGE_MERGE) return { model, adapter, trainFile: "", evalFile: "" };
  return { model, adapter, ...(await stageDatasets(store, job, dir)) };
}
