import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { Transform } from "node:stream";
import { z } from "zod";
import {
  ChecksumMismatchError,
  InvalidManifestError,
  ObjectExistsError,
  ObjectNotFoundError,
  StoreError,
} from "./errors.js";
import { compareKeys, joinKey, validateKey, validatePrefix } from "./keys.js";
import { writeFileAtomic } from "./local-files.js";
import type { ObjectStore } from "./object-store.js";
import { withRetry } from "./retry.js";
import { isTransientStoreError } from "./s3-errors.js";

// A checkpoint or artifact under <prefix>/ is complete only when <prefix>/manifest.json
// exists. It is written last, create-only, so readers never take a half-written upload
// for a finished one, and a finished one is never overwritten.
export const MANIFEST_NAME = "manifest.json";

const manifestSchema = z.object({
  version: z.literal(1),
  files: z.array(
    z.object({
      path: z.string(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
      size: z.number().int().nonnegative(),
    }),
  ),
  createdAt: z.string(),
  meta: z.record(z.string(), z.string()).optional(),
});

export interface ManifestFile {
  /** Relative POSIX path under the prefix. */
  path: string;
  sha256: string;
  size: number;
}

export interface Manifest {
  version: 1;
  files: ManifestFile[];
  createdAt: string;
  meta?: Record<string, string>;
}

const UPLOAD_CONCURRENCY = 4;
const FILE_RETRIES = { retries: 3, baseDelayMs: 200, maxDelayMs: 5_000 };

function trimPrefix(prefix: string): string {
  validatePrefix(prefix);
  if (prefix === "" || prefix === "/") throw new StoreError("a manifest prefix must not be empty");
  return prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
}

export function manifestKey(prefix: string): string {
  return joinKey(trimPrefix(prefix), MANIFEST_NAME);
}

/** sha256 (hex) and size of a local file, streamed. */
export async function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size };
}

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Lists every regular file under `dir` (sorted by path) with its sha256 and size. */
export async function manifestOfDir(dir: string): Promise<Manifest> {
  const root = path.resolve(dir);
  const paths: string[] = [];
  async function walk(rel: string): Promise<void> {
    const entries = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      const p = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) paths.push(p);
      // Symlinks, sockets, ...: a checkpoint is plain files; refuse rather than guess.
      else throw new StoreError(`${path.join(root, p)} is not a regular file or directory; cannot add it to a manifest`);
    }
  }
  await walk("");
  paths.sort(compareKeys);
  if (paths.includes(MANIFEST_NAME)) {
    throw new StoreError(`${path.join(root, MANIFEST_NAME)}: "${MANIFEST_NAME}" is reserved for the manifest itself`);
  }
  const files: ManifestFile[] = [];
  for (const p of paths) {
    validateKey(p, "path");
    files.push({ path: p, ...(await sha256File(path.join(root, ...p.split("/")))) });
  }
  return { version: 1, files, createdAt: new Date().toISOString() };
}

function serialize(m: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`, "utf8");
}

function parseManifest(key: string, bytes: Buffer): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new InvalidManifestError(key, "not JSON", { cause: err });
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new InvalidManifestError(key, `${issue?.path.join(".") || "(root)"}: ${issue?.message}`, { cause: r.error });
  }
  const m = r.data as Manifest;
  for (const f of m.files) validateKey(f.path, `${key} path`);
  return m;
}

/** Same files (path, sha256, size) in the same order: createdAt and meta do not matter. */
function sameFiles(a: Manifest, b: Manifest): boolean {
  return (
    a.files.length === b.files.length &&
    a.files.every((f, i) => f.path === b.files[i]?.path && f.sha256 === b.files[i]?.sha256 && f.size === b.files[i]?.size)
  );
}

async function readManifestWithSha(store: ObjectStore, prefix: string): Promise<{ manifest: Manifest; manifestSha256: string } | null> {
  const key = manifestKey(prefix);
  let bytes: Buffer;
  try {
    bytes = await store.get(key);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return null;
    throw err;
  }
  return { manifest: parseManifest(key, bytes), manifestSha256: sha256Hex(bytes) };
}

/** The manifest under `prefix`, or null when the prefix is not (yet) complete. */
export async function readManifest(store: ObjectStore, prefix: string): Promise<Manifest | null> {
  return (await readManifestWithSha(store, prefix))?.manifest ?? null;
}

/**
 * If `prefix` is already complete: returns it when it holds the same files (so a retried
 * job is idempotent), else throws ObjectExistsError. A complete prefix is never rewritten.
 */
async function existingComplete(store: ObjectStore, prefix: string, want: Manifest) {
  const existing = await readManifestWithSha(store, prefix);
  if (!existing) return null;
  if (sameFiles(existing.manifest, want)) return existing;
  throw new ObjectExistsError(manifestKey(prefix), {
    message: `${manifestKey(prefix)} already exists with different files; a complete prefix is never overwritten`,
  });
}

async function commitManifest(store: ObjectStore, prefix: string, manifest: Manifest) {
  const bytes = serialize(manifest);
  try {
    await store.put(manifestKey(prefix), bytes, { ifNoneMatch: true, contentType: "application/json" });
  } catch (err) {
    // Lost a race with another writer, or our own earlier attempt landed: accept it if equal.
    if (err instanceof ObjectExistsError) {
      const done = await existingComplete(store, prefix, manifest);
      if (done) return done;
    }
    throw err;
  }
  return { manifest, manifestSha256: sha256Hex(bytes) };
}

async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Uploads every file of `dir` under `prefix`, then writes `prefix/manifest.json` last,
 * create-only. Each file upload is retried on transient errors; if any still fails the
 * manifest is not written, so the half-written prefix never looks complete.
 */
export async function uploadDirWithManifest(
  store: ObjectStore,
  prefix: string,
  dir: string,
  meta?: Record<string, string>,
): Promise<{ manifest: Manifest; manifestSha256: string }> {
  const base = trimPrefix(prefix);
  const manifest = await manifestOfDir(dir);
  if (meta) manifest.meta = { ...meta };
  // Validate every key before writing anything.
  const keys = manifest.files.map((f) => joinKey(base, f.path, "path"));
  const done = await existingComplete(store, base, manifest);
  if (done) return done;
  const root = path.resolve(dir);
  await eachLimited(manifest.files, UPLOAD_CONCURRENCY, async (f, i) => {
    const key = keys[i] as string;
    await withRetry(() => store.putFile(key, path.join(root, ...f.path.split("/"))), isTransientStoreError, FILE_RETRIES);
  });
  // Files may have changed while uploading (a writer still busy): catch it before committing.
  const after = await manifestOfDir(dir);
  if (!sameFiles(after, manifest)) {
    throw new StoreError(`${root} changed during upload to ${base}/; not writing ${MANIFEST_NAME}`, { key: base });
  }
  return commitManifest(store, base, manifest);
}

/**
 * Downloads every file listed in `prefix/manifest.json` into `dir`, checking size and
 * sha256 before each file is renamed into place (a bad file never appears in `dir`).
 * Throws ObjectNotFoundError when there is no manifest and ChecksumMismatchError naming
 * the file when the bytes do not match.
 */
export async function downloadVerified(store: ObjectStore, prefix: string, dir: string): Promise<Manifest> {
  const base = trimPrefix(prefix);
  const manifest = await readManifest(store, base);
  if (!manifest) {
    throw new ObjectNotFoundError(manifestKey(base), {
      message: `${manifestKey(base)} not found: ${base}/ is missing or incomplete`,
    });
  }
  const root = path.resolve(dir);
  await eachLimited(manifest.files, UPLOAD_CONCURRENCY, async (f) => {
    const key = joinKey(base, f.path, "path");
    await withRetry(
      async () => {
        const hash = createHash("sha256");
        let size = 0;
        const tap = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            size += chunk.length;
            cb(null, chunk);
          },
        });
        await writeFileAtomic(path.join(root, ...f.path.split("/")), await store.getStream(key), {
          through: tap,
          beforeRename: () => {
            const actual = hash.digest("hex");
            if (size !== f.size || actual !== f.sha256) {
              throw new ChecksumMismatchError(key, f.path, `${f.sha256} (${f.size} bytes)`, `${actual} (${size} bytes)`);
            }
          },
        });
      },
      isTransientStoreError,
      FILE_RETRIES,
    );
  });
  return manifest;
}

/**
 * Copies a complete prefix server-side (promoting a checkpoint to an artifact, say); the
 * manifest is copied last with the same bytes, so its sha256 stays the same.
 */
export async function copyPrefixWithManifest(
  store: ObjectStore,
  srcPrefix: string,
  dstPrefix: string,
): Promise<{ manifest: Manifest; manifestSha256: string }> {
  const src = trimPrefix(srcPrefix);
  const dst = trimPrefix(dstPrefix);
  const found = await readManifestWithSha(store, src);
  if (!found) {
    throw new ObjectNotFoundError(manifestKey(src), { message: `${manifestKey(src)} not found: ${src}/ is missing or incomplete` });
  }
  const { manifest } = found;
  const pairs = manifest.files.map((f) => [joinKey(src, f.path, "path"), joinKey(dst, f.path, "path")] as const);
  const done = await existingComplete(store, dst, manifest);
  if (done) return done;
  await eachLimited(pairs, UPLOAD_CONCURRENCY, async ([from, to]) => {
    await withRetry(() => store.copy(from, to), isTransientStoreError, FILE_RETRIES);
  });
  const bytes = await store.get(manifestKey(src));
  try {
    await store.put(manifestKey(dst), bytes, { ifNoneMatch: true, contentType: "application/json" });
  } catch (err) {
    if (err instanceof ObjectExistsError) {
      const again = await existingComplete(store, dst, manifest);
      if (again) return again;
    }
    throw err;
  }
  return { manifest: parseManifest(manifestKey(dst), bytes), manifestSha256: sha256Hex(bytes) };
}

/**
 * The newest complete child `<parentPrefix>/<step>/` (numeric step names). Children
 * without a manifest (still uploading, or abandoned) and with an unreadable manifest
 * are skipped.
 */
export async function latestCompletePrefix(
  store: ObjectStore,
  parentPrefix: string,
): Promise<{ prefix: string; step: number; manifest: Manifest } | null> {
  const parent = trimPrefix(parentPrefix);
  const pattern = new RegExp(`^${escapeRegExp(parent)}/(\\d+)/${escapeRegExp(MANIFEST_NAME)}$`);
  const steps: { name: string; step: number }[] = [];
  for await (const o of store.list(`${parent}/`)) {
    const m = pattern.exec(o.key);
    if (m?.[1]) steps.push({ name: m[1], step: Number(m[1]) });
  }
  steps.sort((a, b) => b.step - a.step);
  for (const { name, step } of steps) {
    const prefix = `${parent}/${name}`;
    try {
      const manifest = await readManifest(store, prefix);
      if (manifest) return { prefix, step, manifest };
    } catch (err) {
      if (!(err instanceof InvalidManifestError)) throw err;
    }
  }
  return null;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
