import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { InvalidKeyError, ObjectExistsError, ObjectNotFoundError, StoreError, StoreUnavailableError } from "./errors.js";
import { compareKeys, validateKey, validatePrefix } from "./keys.js";
import type { ObjectInfo, ObjectStore, PutOptions } from "./object-store.js";
import { writeFileAtomic } from "./local-files.js";

// In-progress writes live here, inside the root so rename() stays on one filesystem
// (atomic); list() never shows it and keys under it are refused.
const STAGING_DIR = ".staging";

function errno(err: unknown): string | undefined {
  return err && typeof err === "object" && "code" in err ? String(err.code) : undefined;
}

/**
 * The directory cannot be written (or read) right now: permissions changed, a read-only remount,
 * a full disk or quota, an I/O error of the device. Nothing about the key; an operator or the
 * filesystem recovering fixes it, so the job is retried with backoff instead of failing for good.
 */
const OUTAGE_CODES = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "EIO"]);
/** Transient shortages of the process. */
const TRANSIENT_CODES = new Set(["EMFILE", "ENFILE", "EAGAIN", "EBUSY"]);

/**
 * Object store on a local directory (the embedded default and tests). Writes go to a
 * staging file first and are renamed into place, so readers never see partial objects;
 * create-only writes use link(), which fails atomically when the target exists.
 */
export class FsObjectStore implements ObjectStore {
  readonly kind = "fs" as const;
  readonly root: string;

  constructor(opts: { root: string }) {
    if (!opts.root) throw new StoreError("FsObjectStore: root must not be empty");
    this.root = path.resolve(opts.root);
  }

  private pathOf(key: string, field = "key"): string {
    validateKey(key, field);
    if (key === STAGING_DIR || key.startsWith(`${STAGING_DIR}/`)) {
      throw new InvalidKeyError(key, field, `"${STAGING_DIR}/" is reserved by the filesystem store`);
    }
    return path.join(this.root, ...key.split("/"));
  }

  private async stagingPath(key: string): Promise<string> {
    const dir = path.join(this.root, STAGING_DIR);
    try {
      await fsp.mkdir(dir, { recursive: true });
    } catch (err) {
      throw this.mapError(err, key, "stage");
    }
    return path.join(dir, randomBytes(8).toString("hex"));
  }

  /** Runs a write into the staging file; the store's failures are mapped, a source stream's pass as they are. */
  private async stage(key: string, tmp: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      const at = err && typeof err === "object" && "path" in err ? String(err.path) : undefined;
      if (at !== undefined && path.relative(this.root, path.resolve(at)).startsWith("..")) throw err; // the caller's file
      throw this.mapError(err, key, "stage");
    }
  }

  async put(key: string, body: Buffer | string | NodeJS.ReadableStream, opts: PutOptions = {}): Promise<void> {
    const target = this.pathOf(key);
    const tmp = await this.stagingPath(key);
    try {
      await this.stage(key, tmp, async () => {
        if (typeof body === "string" || Buffer.isBuffer(body)) await fsp.writeFile(tmp, body);
        else await pipeline(body as Readable, createWriteStream(tmp));
      });
      await this.commit(key, tmp, target, opts);
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async putFile(key: string, localPath: string, opts: PutOptions = {}): Promise<void> {
    this.pathOf(key);
    // Open first: a stream opened lazily reports a missing file as an 'error' event, which fires while
    // put() is still preparing its staging file, before anything listens, and ends the process.
    const handle = await fsp.open(localPath, "r");
    await this.put(key, handle.createReadStream(), opts);
  }

  private async commit(key: string, tmp: string, target: string, opts: PutOptions): Promise<void> {
    try {
      await fsp.mkdir(path.dirname(target), { recursive: true });
      if (opts.ifNoneMatch) await fsp.link(tmp, target);
      else await fsp.rename(tmp, target);
    } catch (err) {
      if (opts.ifNoneMatch && errno(err) === "EEXIST") throw new ObjectExistsError(key, { cause: err });
      throw this.mapError(err, key, "put");
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.pathOf(key));
    } catch (err) {
      throw this.mapError(err, key, "get");
    }
  }

  async getStream(key: string): Promise<NodeJS.ReadableStream> {
    const p = this.pathOf(key);
    // Open first so a missing key fails here, not later on the stream.
    const handle = await fsp.open(p, "r").catch((err: unknown) => {
      throw this.mapError(err, key, "get");
    });
    return handle.createReadStream();
  }

  async getFile(key: string, localPath: string): Promise<void> {
    await writeFileAtomic(localPath, await this.getStream(key));
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await fsp.stat(this.pathOf(key));
      if (!st.isFile()) return null;
      return { key, size: st.size, lastModified: st.mtime };
    } catch (err) {
      if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return null;
      throw this.mapError(err, key, "stat");
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    // Walk only the deepest directory the prefix names; S3 prefixes are plain string
    // prefixes, so "a/b" must match "a/b/c" and "a/bc".
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash);
    const keys: string[] = [];
    await this.walk(dirKey, keys);
    keys.sort(compareKeys);
    for (const key of keys) {
      if (!key.startsWith(prefix)) continue;
      const info = await this.stat(key);
      if (info) yield info;
    }
  }

  private async walk(dirKey: string, out: string[]): Promise<void> {
    const dir = dirKey === "" ? this.root : path.join(this.root, ...dirKey.split("/"));
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return;
      throw this.mapError(err, dirKey, "list");
    }
    for (const e of entries) {
      if (dirKey === "" && e.name === STAGING_DIR) continue;
      const key = dirKey === "" ? e.name : `${dirKey}/${e.name}`;
      if (e.isDirectory()) await this.walk(key, out);
      else if (e.isFile()) out.push(key);
    }
  }

  async delete(key: string): Promise<void> {
    const p = this.pathOf(key);
    try {
      await fsp.rm(p, { force: true });
    } catch (err) {
      throw this.mapError(err, key, "delete");
    }
    // Drop directories the delete emptied, so an empty "prefix" does not linger.
    let dir = path.dirname(p);
    while (dir !== this.root && dir.startsWith(this.root)) {
      try {
        await fsp.rmdir(dir);
      } catch {
        break; // not empty (or already gone): stop climbing
      }
      dir = path.dirname(dir);
    }
  }

  async copy(srcKey: string, dstKey: string): Promise<void> {
    const src = this.pathOf(srcKey, "srcKey");
    const dst = this.pathOf(dstKey, "dstKey");
    const tmp = await this.stagingPath(dstKey);
    try {
      await fsp.copyFile(src, tmp).catch((err: unknown) => {
        throw this.mapError(err, srcKey, "copy");
      });
      await this.commit(dstKey, tmp, dst, {});
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  uri(key: string): string {
    return pathToFileURL(this.pathOf(key)).href;
  }

  keyFromUri(uri: string): string {
    let p: string;
    try {
      p = fileURLToPath(uri);
    } catch {
      throw new InvalidKeyError(uri, "uri", 'expected a "file://" uri');
    }
    const rel = path.relative(this.root, p);
    if (rel === "" || rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      throw new InvalidKeyError(uri, "uri", `not inside the store root ${this.root}`);
    }
    const key = rel.split(path.sep).join("/");
    try {
      this.pathOf(key, "uri");
    } catch (err) {
      throw new InvalidKeyError(uri, "uri", err instanceof Error ? err.message : String(err));
    }
    return key;
  }

  private mapError(err: unknown, key: string, op: string): StoreError {
    if (err instanceof StoreError) return err;
    const code = errno(err);
    const why = err instanceof Error ? err.message : String(err);
    if (code !== undefined && OUTAGE_CODES.has(code)) {
      return new StoreUnavailableError(`fs ${op} ${key} failed: the store directory ${this.root} is not usable now (${why}); retry when it is writable again`, {
        key,
        cause: err,
      });
    }
    // The staging area is ours, not the key's: a staging directory that vanished or was replaced
    // (an unmounted volume, a file in its place) is an outage of the store too.
    if (op === "stage") return new StoreUnavailableError(`fs put ${key} failed while staging: ${why}`, { key, cause: err });
    if (op === "put" && (code === "ENOTDIR" || code === "EISDIR" || code === "EEXIST" || code === "ENOTEMPTY")) {
      // A filesystem cannot hold both "a" and "a/b"; S3 can. Say so instead of ENOTDIR.
      return new StoreError(`fs ${op} ${key} failed: a parent of the key is an object, or the key is a prefix of others`, {
        key,
        cause: err,
      });
    }
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return new ObjectNotFoundError(key, { cause: err });
    const retryable = code !== undefined && TRANSIENT_CODES.has(code);
    return new StoreError(`fs ${op} ${key} failed: ${why}`, {
      key,
      retryable,
      cause: err,
    });
  }
}
