// Stages the model under evaluation from the registry: a version's files, and for an adapter its base.
import { randomUUID } from "node:crypto";
import { access, mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  type AdapterVersion,
  ArtifactKind,
  ApiError,
  downloadPrefix,
  downloadVerified,
  type Location,
  locate,
  type ModelRef,
  ObjectNotFoundError,
  type ObjectStore,
  sha256Hex,
  Stage,
  status,
} from "@mambalign/core";
import { InvalidEvalJobError } from "./errors.js";

/** How the evaluator reads versions (RegistryService.GetVersion). */
export interface VersionLookup {
  getVersion(id: string): Promise<AdapterVersion>;
}

export interface StagedModel {
  /** `model` for the runtime spec: local directory, Hub id or preset. */
  model: string;
  /** Adapter directory applied on top of `model`, or "". */
  adapter: string;
  /** The version evaluated; undefined for the base model. */
  version: AdapterVersion | undefined;
  /** Parent chain of the version, nearest first (for comparisons in the report). */
  ancestors: AdapterVersion[];
  /** Name recorded in judgments: the version id, or the base model uri. */
  name: string;
}

// Lineage is short (base -> SFT -> merged -> DPO); a longer chain means a cycle in the registry.
const MAX_LINEAGE = 32;

/**
 * Resolves what to load: a MODEL version is the model itself; an ADAPTER version goes on top of the
 * nearest MODEL version in its parent chain, or else the base model reference.
 */
export async function stageModel(opts: {
  inputVersion: string;
  baseModel: ModelRef | undefined;
  registry: VersionLookup;
  store: ObjectStore;
  cacheDir: string;
}): Promise<StagedModel> {
  const { inputVersion, registry, store, cacheDir } = opts;
  if (!inputVersion) {
    const model = await stageModelRef(opts.baseModel, "baseModel", store, cacheDir);
    return { model, adapter: "", version: undefined, ancestors: [], name: opts.baseModel?.uri ?? "" };
  }
  const version = await lookup(registry, inputVersion, "inputVersion");
  const ancestors: AdapterVersion[] = [];
  for (let parent = version.parent; parent; parent = ancestors.at(-1)!.parent) {
    if (ancestors.length >= MAX_LINEAGE || parent === version.id || ancestors.some((a) => a.id === parent)) {
      throw new InvalidEvalJobError("inputVersion", `lineage of ${version.id} loops or is longer than ${MAX_LINEAGE} at ${parent}`);
    }
    ancestors.push(await lookup(registry, parent, `parent of ${ancestors.at(-1)?.id ?? version.id}`));
  }
  const name = version.id;
  if (version.kind === ArtifactKind.ARTIFACT_KIND_MODEL) {
    return { model: await stageVersion(version, store, cacheDir), adapter: "", version, ancestors, name };
  }
  if (version.kind !== ArtifactKind.ARTIFACT_KIND_ADAPTER) {
    throw new InvalidEvalJobError("inputVersion", `version ${version.id} has no artifact kind (expected ADAPTER or MODEL)`);
  }
  const adapter = await stageVersion(version, store, cacheDir);
  const modelVersion = ancestors.find((a) => a.kind === ArtifactKind.ARTIFACT_KIND_MODEL);
  const model = modelVersion
    ? await stageVersion(modelVersion, store, cacheDir)
    : await stageModelRef(version.baseModel?.uri ? version.baseModel : opts.baseModel, "baseModel", store, cacheDir);
  return { model, adapter, version, ancestors, name };
}

/** Short label for charts: "base", "sft", "merge", "dpo", ... */
export function stageLabel(version: AdapterVersion | undefined): string {
  if (!version) return "base";
  const s = Stage[version.stage];
  return typeof s === "string" && version.stage !== Stage.STAGE_UNSPECIFIED ? s.replace(/^STAGE_/, "").toLowerCase() : version.id;
}

async function lookup(registry: VersionLookup, id: string, field: string): Promise<AdapterVersion> {
  try {
    return await registry.getVersion(id);
  } catch (err) {
    // A version that does not exist (or a malformed id) will not appear by retrying; an unreachable registry may.
    if (err instanceof ApiError && (err.code === status.NOT_FOUND || err.code === status.INVALID_ARGUMENT)) {
      throw new InvalidEvalJobError(field, `registry version ${JSON.stringify(id)}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

// A version holds its weights at its root or, registered from a trainer checkpoint, in adapter/ or model/.
const WEIGHT_ROOTS = ["", "adapter/", "model/"];

/** The folder of a version that the runtime loads: where adapter_config.json (adapter) or config.json (model) is. */
export function weightsRoot(version: AdapterVersion): string {
  const paths = new Set(version.manifest.map((f) => f.path));
  const marker = version.kind === ArtifactKind.ARTIFACT_KIND_ADAPTER ? "adapter_config.json" : "config.json";
  const root = WEIGHT_ROOTS.find((r) => paths.has(`${r}${marker}`));
  if (root === undefined) {
    throw new InvalidEvalJobError("inputVersion", `version ${version.id} has no ${marker} at its root or in adapter/ or model/`);
  }
  return root;
}

/** Downloads a version's files (sha256-checked) into a cache folder keyed by its manifest hash. */
async function stageVersion(version: AdapterVersion, store: ObjectStore, cacheDir: string): Promise<string> {
  if (!version.uri) throw new InvalidEvalJobError("inputVersion", `version ${version.id} has no uri`);
  const loc = locateIn(store, version.uri, `version ${version.id} uri`);
  if (loc.kind !== "store") throw new InvalidEvalJobError("inputVersion", `version ${version.id} uri ${version.uri} is not in the object store`);
  const prefix = loc.key;
  const root = weightsRoot(version);
  const dir = await cached(join(cacheDir, version.manifestSha256 || sha256Hex(version.uri)), (d) => downloadVerified(store, prefix, d));
  return root ? join(dir, root.slice(0, -1)) : dir;
}

/** The base model: presets, Hub ids and local paths pass through; an object-store prefix is downloaded. */
async function stageModelRef(ref: ModelRef | undefined, field: string, store: ObjectStore, cacheDir: string): Promise<string> {
  const uri = ref?.uri ?? "";
  if (!uri) throw new InvalidEvalJobError(field, "no base model: set baseModel.uri (or inputVersion)");
  const loc = locateIn(store, uri, field);
  if (loc.kind !== "store") return uri;
  return cached(join(cacheDir, sha256Hex(uri)), (dir) =>
    downloadPrefix(store, loc.key, dir).catch((err: unknown) => {
      throw err instanceof ObjectNotFoundError ? new InvalidEvalJobError(field, `${uri} holds no files`, { cause: err }) : err;
    }),
  );
}

function locateIn(store: ObjectStore, uri: string, field: string): Location {
  try {
    return locate(store, uri, field);
  } catch (cause) {
    throw new InvalidEvalJobError(field, `${uri} is not in this object store: ${(cause as Error).message}`, { cause });
  }
}

/** Fills `dir` once: downloads into a temporary sibling and renames, so a present `dir` is complete. */
async function cached(dir: string, fill: (dir: string) => Promise<unknown>): Promise<string> {
  try {
    await access(dir);
    return dir;
  } catch {
    // Not staged yet.
  }
  await mkdir(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${randomUUID()}`;
  try {
    await mkdir(tmp, { recursive: true });
    await fill(tmp);
    await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Another job staged the same content meanwhile: theirs is as good as ours.
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}
