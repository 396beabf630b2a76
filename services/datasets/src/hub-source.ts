// A Hub dataset as local files: its revision resolved to a commit, the data files of each
// requested split chosen by the Hub's naming, each fetched once into our object store under
// `datasets/cache/<sha256>` (content-addressed) and staged locally for reading.
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { ApiError, type ObjectStore, sha256File, sha256Hex } from "@mambalign/core";
import type { HubClient, HubFile, HubRevision, ProgressFn } from "./hub-client.js";

export const CACHE_PREFIX = "datasets/cache";
const DATA_EXT = /\.(parquet|jsonl)$/i;

export interface StagedFile {
  split: string;
  path: string;
  sha256: string;
  size: number;
  /** Local copy to read. */
  local: string;
  /** Whether the bytes came from our cache rather than the Hub. */
  cached: boolean;
}

export interface StagedHubDataset {
  repo: string;
  revision: string;
  commit: string;
  files: StagedFile[];
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The data files of `split` in the Hub's layouts: `data/<split>-00000-of-00003-<hash>.parquet`,
 * `<config>/<split>-*.parquet`, `<split>.jsonl`, or a `<split>/` folder (the parquet-converter's).
 */
export function filesOfSplit(files: HubFile[], split: string): HubFile[] {
  const byName = new RegExp(`^${escapeRe(split)}([-.][^/]*)?\\.(parquet|jsonl)$`, "i");
  return files
    .filter((f) => DATA_EXT.test(f.path))
    .filter((f) => {
      const segs = f.path.split("/");
      return byName.test(segs.at(-1) ?? "") || segs.slice(0, -1).includes(split);
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}

/** The split names a file list offers, for error messages. */
export function splitsOffered(files: HubFile[]): string[] {
  const names = new Set<string>();
  for (const f of files.filter((x) => DATA_EXT.test(x.path))) {
    names.add((f.path.split("/").at(-1) ?? "").replace(/(-\d{5}-of-\d{5})?(-[0-9a-f]+)?\.(parquet|jsonl)$/i, ""));
  }
  return [...names].sort();
}

/** Pointer from a git blob id to the sha256 of its content, for files the Hub gives no sha256 for. */
const blobPointer = (blobId: string) => `${CACHE_PREFIX}/git-blob/${blobId}`;

async function stageFile(
  store: ObjectStore,
  hub: HubClient,
  rev: HubRevision,
  file: HubFile,
  split: string,
  dir: string,
  onProgress?: ProgressFn,
): Promise<StagedFile> {
  // Two configs can hold the same file name (`a/train/0000.parquet`, `b/train/0000.parquet`).
  const local = path.join(dir, `${split}-${sha256Hex(file.path).slice(0, 8)}-${path.basename(file.path)}`);
  let sha = file.sha256;
  if (!sha && file.blobId) {
    sha = (await store.get(blobPointer(file.blobId)).catch(() => Buffer.from(""))).toString("utf8").trim();
  }
  if (sha && (await store.stat(`${CACHE_PREFIX}/${sha}`))) {
    await store.getFile(`${CACHE_PREFIX}/${sha}`, local);
    const size = (await fsp.stat(local)).size;
    onProgress?.({ dataset: rev.repo, file: file.path, bytes: size, totalBytes: size, cached: true, message: `${rev.repo}/${file.path}: from the cache` });
    return { split, path: file.path, sha256: sha, size, local, cached: true };
  }
  const partial = `${local}.part`;
  await hub.download(rev, file, partial, onProgress);
  const got = await sha256File(partial);
  if (file.sha256 && got.sha256 !== file.sha256) {
    throw ApiError.failedPrecondition(`dataset ${rev.repo}: ${file.path} arrived with sha256 ${got.sha256}, the Hub lists ${file.sha256}`, { key: rev.repo });
  }
  await fsp.rename(partial, local);
  // Content-addressed and immutable: a concurrent writer of the same key writes the same bytes.
  await store.putFile(`${CACHE_PREFIX}/${got.sha256}`, local);
  if (!file.sha256 && file.blobId) await store.put(blobPointer(file.blobId), got.sha256);
  return { split, path: file.path, sha256: got.sha256, size: got.size, local, cached: false };
}

/**
 * Resolves `repo@revision` and stages the files of each split. `required` splits must exist;
 * optional ones (a default test split) are skipped when the dataset has none.
 */
export async function stageHubDataset(
  store: ObjectStore,
  hub: HubClient,
  ref: { repo: string; revision: string },
  splits: { name: string; required: boolean }[],
  dir: string,
  field: string,
  onProgress?: ProgressFn,
): Promise<StagedHubDataset> {
  const rev = await hub.resolve(ref.repo, ref.revision);
  const out: StagedHubDataset = { repo: rev.repo, revision: rev.revision, commit: rev.commit, files: [] };
  for (const split of splits) {
    const files = filesOfSplit(rev.files, split.name);
    if (files.length === 0) {
      if (!split.required) continue;
      throw ApiError.invalidArgument(
        field,
        `dataset ${rev.repo}@${rev.revision} has no split ${JSON.stringify(split.name)} (Parquet or JSONL files); it offers: ${splitsOffered(rev.files).join(", ") || "no data files"}`,
        { key: rev.repo },
      );
    }
    for (const f of files) out.files.push(await stageFile(store, hub, rev, f, split.name, dir, onProgress));
  }
  return out;
}
