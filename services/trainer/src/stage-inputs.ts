// Stages a job's inputs into its work dir: dataset splits, the input model/adapter version, the base model.
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import {
  type AdapterVersion,
  ArtifactKind,
  callUnary,
  type DatasetServiceClient,
  type DatasetVersion,
  downloadPrefix,
  locate,
  type ObjectStore,
  type RegistryServiceClient,
  sha256File,
  Stage,
  type StageJob,
} from "@mambalign/core";
import { badJob, dependencyFailure, JobFailure } from "./errors.js";

export interface Peers {
  datasets: DatasetServiceClient;
  registry: RegistryServiceClient;
}

/** What the runtime spec points at, all local (or a preset/Hub id the runtime resolves itself). */
export interface StagedInputs {
  model: string;
  adapter: string;
  trainFile: string;
  evalFile: string;
}

const RPC_DEADLINE_MS = 30_000;

/** `preset:` names and Hub ids are the runtime's business; store prefixes and local paths are ours. */
export async function stageModelRef(store: ObjectStore, uri: string, dir: string, field: string): Promise<string> {
  if (!uri) throw badJob(field, "is empty: give a preset:<name>, a Hub id, an s3:// prefix or a local path");
  let loc;
  try {
    loc = locate(store, uri, field);
  } catch (err) {
    throw dependencyFailure(`${field}: ${uri} is not in this trainer's object store`, err, field);
  }
  if (loc.kind === "named") return uri;
  if (loc.kind === "local") {
    const s = await stat(loc.path).catch(() => null);
    if (!s?.isDirectory()) throw badJob(field, `local model directory ${uri} does not exist`);
    return loc.path;
  }
  try {
    await downloadPrefix(store, loc.key, dir);
  } catch (err) {
    throw dependencyFailure(`${field}: staging ${store.uri(loc.key)}/`, err, field);
  }
  return dir;
}

async function getDataset(peers: Peers, id: string, field: string): Promise<DatasetVersion> {
  try {
    const res = await callUnary(peers.datasets.getDataset.bind(peers.datasets), { id }, { deadlineMs: RPC_DEADLINE_MS });
    if (!res.dataset) throw new JobFailure(`${field}: dataset ${id} came back empty`, { retryable: true, field });
    return res.dataset;
  } catch (err) {
    throw dependencyFailure(`${field}: GetDataset ${JSON.stringify(id)}`, err, field);
  }
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

async function stageDatasets(store: ObjectStore, peers: Peers, job: StageJob, dir: string): Promise<{ trainFile: string; evalFile: string }> {
  if (!job.trainDataset) throw badJob("trainDataset", `is empty; ${Stage[job.stage]} needs a dataset version`);
  const train = await getDataset(peers, job.trainDataset, "trainDataset");
  const trainFile = await stageSplit(store, train, "train", dir, "trainDataset");
  // Held-out data: the eval dataset's test split (its only split if it has no test split),
  // else the training dataset's own test split when it has one.
  let evalFile = "";
  if (job.evalDataset) {
    const ev = job.evalDataset === job.trainDataset ? train : await getDataset(peers, job.evalDataset, "evalDataset");
    evalFile = await stageSplit(store, ev, hasRows(ev, "test") || !hasRows(ev, "train") ? "test" : "train", dir, "evalDataset");
  } else if (hasRows(train, "test")) {
    evalFile = await stageSplit(store, train, "test", dir, "trainDataset");
  }
  return { trainFile, evalFile };
}

async function getVersion(peers: Peers, id: string, field: string): Promise<AdapterVersion> {
  try {
    const res = await callUnary(peers.registry.getVersion.bind(peers.registry), { id }, { deadlineMs: RPC_DEADLINE_MS });
    if (!res.version) throw new JobFailure(`${field}: version ${id} came back empty`, { retryable: true, field });
    return res.version;
  } catch (err) {
    throw dependencyFailure(`${field}: GetVersion ${JSON.stringify(id)}`, err, field);
  }
}

async function stageVersion(store: ObjectStore, v: AdapterVersion, dir: string, field: string): Promise<string> {
  if (!v.uri) throw new JobFailure(`${field}: version ${v.id} has no uri`, { retryable: false, field });
  return stageModelRef(store, v.uri, dir, field);
}

/**
 * Model and adapter for the runtime. A MODEL input (merged SFT model for DPO) is the model
 * itself; an ADAPTER input (SFT adapter for MERGE) goes on top of its parent model version, or
 * of the run's base model when it has no parent.
 */
async function stageModel(store: ObjectStore, peers: Peers, job: StageJob, dir: string): Promise<{ model: string; adapter: string }> {
  const base = job.baseModel?.uri ?? "";
  if (!job.inputVersion) {
    if (job.stage === Stage.STAGE_MERGE) throw badJob("inputVersion", "is empty; MERGE needs the adapter version to merge");
    return { model: await stageModelRef(store, base, path.join(dir, "base-model"), "baseModel.uri"), adapter: "" };
  }
  const input = await getVersion(peers, job.inputVersion, "inputVersion");
  if (input.kind === ArtifactKind.ARTIFACT_KIND_MODEL) {
    if (job.stage === Stage.STAGE_MERGE) throw badJob("inputVersion", `${input.id} is a MODEL; MERGE needs an ADAPTER version`);
    return { model: await stageVersion(store, input, path.join(dir, "input-model"), "inputVersion"), adapter: "" };
  }
  if (input.kind !== ArtifactKind.ARTIFACT_KIND_ADAPTER) {
    throw badJob("inputVersion", `${input.id} has kind ${ArtifactKind[input.kind]}; want MODEL or ADAPTER`);
  }
  const adapter = await stageVersion(store, input, path.join(dir, "input-adapter"), "inputVersion");
  if (!input.parent) {
    const root = input.baseModel?.uri || base;
    return { model: await stageModelRef(store, root, path.join(dir, "base-model"), "baseModel.uri"), adapter };
  }
  const parent = await getVersion(peers, input.parent, "inputVersion.parent");
  if (parent.kind !== ArtifactKind.ARTIFACT_KIND_MODEL) {
    throw badJob("inputVersion", `${input.id} is an adapter on adapter ${parent.id}; merge ${parent.id} first (stacked adapters are not supported)`);
  }
  return { model: await stageVersion(store, parent, path.join(dir, "parent-model"), "inputVersion.parent"), adapter };
}

export async function stageInputs(store: ObjectStore, peers: Peers, job: StageJob, dir: string): Promise<StagedInputs> {
  await mkdir(dir, { recursive: true });
  const { model, adapter } = await stageModel(store, peers, job, dir);
  if (job.stage === Stage.STAGE_MERGE) return { model, adapter, trainFile: "", evalFile: "" };
  return { model, adapter, ...(await stageDatasets(store, peers, job, dir)) };
}
