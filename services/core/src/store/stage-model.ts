// Stages the models a job names for the runtime, one way for every worker (trainer, evaluator): a preset
// or Hub id passes through (the runtime fetches it), a local directory must lie under the data roots
// (as PrepareDataset's local files), a store prefix or a registry version is downloaded once into a
// cache keyed by its content and reused by later jobs.
import { randomUUID } from "node:crypto";
import { access, mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { ApiError } from "../errors.js";
import { type AdapterVersion, ArtifactKind } from "../gen/index.js";
import type { LocalRoots } from "../local-roots.js";
import { ObjectNotFoundError } from "./errors.js";
import { type Location, locate } from "./locate.js";
import { downloadVerified, readManifest, sha256Hex } from "./manifest.js";
import type { ObjectStore } from "./object-store.js";

// A version holds its weights at its root or, registered from a trainer checkpoint, in adapter/ or model/.
const WEIGHT_ROOTS = ["", "adapter/", "model/"];

/** The folder of a version that the runtime loads: where adapter_config.json (adapter) or config.json (model) is. */
export function weightsRoot(version: AdapterVersion, field: string): string {
  const paths = new Set(version.manifest.map((f) => f.path));
  const marker = version.kind === ArtifactKind.ARTIFACT_KIND_ADAPTER ? "adapter_config.json" : "config.json";
  const root = WEIGHT_ROOTS.find((r) => paths.has(`${r}${marker}`));
  if (root === undefined) throw ApiError.invalidArgument(field, `version ${version.id} has no ${marker} at its root or in adapter/ or model/`);
  return root;
}

export class ModelStager {
  constructor(
    private readonly store: ObjectStore,
    /** Where local model directories may lie (MAMBALIGN_DATA_ROOTS). */
    private readonly roots: LocalRoots,
    /** Downloads, one folder per content, kept across jobs. */
    private readonly cacheDir: string,
  ) {}

  /** A model reference (the run's base model) as the runtime's `model`: a preset, a Hub id or a local directory. */
  async ref(uri: string, field: string): Promise<string> {
    if (!uri) throw ApiError.invalidArgument(field, "is empty: give a preset:<name>, a Hub id, an s3:// prefix or a local directory");
    const loc = this.#locate(uri, field);
    if (loc.kind === "named") return uri;
    if (loc.kind === "local") {
      const real = await this.roots.existing(uri, field);
      if (!(await stat(real)).isDirectory()) throw ApiError.invalidArgument(field, `local model ${JSON.stringify(uri)} is not a directory`);
      return real;
    }
    return this.#cached(sha256Hex(uri), (dir) =>
      downloadPrefix(this.store, loc.key, dir).catch((err: unknown) => {
        throw err instanceof ObjectNotFoundError ? ApiError.invalidArgument(field, `${uri} holds no files`) : err;
      }),
    );
  }

  /** A registry version's files, checked against its manifest: the folder the runtime loads. */
  async version(version: AdapterVersion, field: string): Promise<string> {
    if (!version.uri) throw ApiError.invalidArgument(field, `version ${version.id} has no uri`);
    const loc = this.#locate(version.uri, field);
    if (loc.kind !== "store") throw ApiError.invalidArgument(field, `version ${version.id} uri ${version.uri} is not in the object store`);
    const root = weightsRoot(version, field);
    const dir = await this.#cached(version.manifestSha256 || sha256Hex(version.uri), (d) => downloadVerified(this.store, loc.key, d));
    return root ? path.join(dir, root.slice(0, -1)) : dir;
  }

  #locate(uri: string, field: string): Location {
    try {
      return locate(this.store, uri, field);
    } catch (err) {
      throw ApiError.invalidArgument(field, `${uri} is not in this object store: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Fills `<cacheDir>/<key>` once: downloads into a temporary sibling and renames, so a present folder is complete. */
  async #cached(key: string, fill: (dir: string) => Promise<unknown>): Promise<string> {
    const dir = path.join(this.cacheDir, key);
    if (await access(dir).then(() => true, () => false)) return dir;
    await mkdir(this.cacheDir, { recursive: true });
    const tmp = `${dir}.tmp-${randomUUID()}`;
    try {
      await mkdir(tmp, { recursive: true });
      await fill(tmp);
      await rename(tmp, dir).catch((err: NodeJS.ErrnoException) => {
        // Another job staged the same content meanwhile: theirs is as good as ours.
        if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return dir;
  }
}

/**
 * Downloads a prefix into `dir`: verified against its manifest when it has one (registry artifacts),
 * else object by object (a model a user uploaded). ObjectNotFoundError when nothing is there.
 */
async function downloadPrefix(store: ObjectStore, prefix: string, dir: string): Promise<void> {
  if (await readManifest(store, prefix)) {
    await downloadVerified(store, prefix, dir);
    return;
  }
  let n = 0;
  for await (const o of store.list(`${prefix}/`)) {
    await store.getFile(o.key, path.join(dir, ...o.key.slice(prefix.length + 1).split("/")));
    n++;
  }
  if (n === 0) throw new ObjectNotFoundError(prefix, { message: `no objects under ${store.uri(prefix)}/` });
}
