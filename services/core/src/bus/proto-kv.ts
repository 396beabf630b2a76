// A typed view of a JetStream KV bucket: values are JSON (usually proto3 JSON of a generated type).
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeJson, encodeJson } from "./codec.js";
import { BusInvalidArgumentError } from "./errors.js";
import { toBusError } from "./nats-errors.js";

/** Turns a value into JSON-able data and back, e.g. `{ encode: Run.toJSON, decode: Run.fromJSON }`. */
export interface KvCodec<T> {
  encode(v: T): unknown;
  decode(json: unknown): T;
}

export interface ProtoKv<T> {
  readonly bucket: string;
  /** The live value and its revision, or null when absent or deleted. */
  get(key: string): Promise<{ value: T; revision: number } | null>;
  /** Writes only if the key does not exist (or was deleted); throws KvConflictError otherwise. */
  create(key: string, value: T): Promise<number>;
  /** Writes only if the key's revision is still `revision`; throws KvConflictError otherwise. */
  update(key: string, value: T, revision: number): Promise<number>;
  /** Unconditional write; returns the new revision. */
  put(key: string, value: T): Promise<number>;
  /** Marks the key deleted (history is kept). */
  delete(key: string): Promise<void>;
  /** Live keys starting with `prefix` (all keys when omitted), sorted. */
  keys(prefix?: string): Promise<string[]>;
  /** Live values of those keys, in key order. */
  values(prefix?: string): Promise<T[]>;
  /** Current values, then every change (value null for a delete), until the signal aborts. */
  watch(opts?: { key?: string; signal?: AbortSignal }): AsyncIterable<{ key: string; value: T | null; revision: number }>;
}

export const KV_DEFAULTS = {
  /** Revisions kept per key: enough to audit the last few state transitions. */
  history: 5,
} as const;

const MAX_KEY_LEN = 1024;
const KEY_CHARS = /^[-/=.\w]+$/;
const BUCKET_RE = /^[-\w]{1,64}$/;

/**
 * NATS KV key rules: letters, digits, `_ - / = .`; no leading or trailing `.`, no empty token
 * (`..`), at most 1024 characters. Throws a BusInvalidArgumentError naming the key.
 */
export function validateKvKey(key: string): string {
  const bad = (why: string) =>
    new BusInvalidArgumentError(`invalid KV key ${JSON.stringify(key)}: ${why}`, { details: { key } });
  if (typeof key !== "string" || key.length === 0) throw bad("empty");
  if (key.length > MAX_KEY_LEN) throw bad(`longer than ${MAX_KEY_LEN} characters`);
  if (!KEY_CHARS.test(key)) throw bad("only A-Z a-z 0-9 _ - / = . are allowed");
  if (key.startsWith(".") || key.endsWith(".")) throw bad("may not start or end with '.'");
  if (key.includes("..")) throw bad("may not contain an empty token ('..')");
  return key;
}

/** A watch key may also use `*` for one token and a final `>` for the rest. */
function validateKvWatchKey(key: string): string {
  const tokens = key.split(".");
  tokens.forEach((t, i) => {
    if (t === "*" || (t === ">" && i === tokens.length - 1)) return;
    if (!/^[-/=\w]+$/.test(t)) {
      throw new BusInvalidArgumentError(`invalid KV watch key ${JSON.stringify(key)}: token ${i + 1} (${JSON.stringify(t)})`, {
        details: { key },
      });
    }
  });
  return key;
}

function validateBucket(bucket: string): string {
  if (!BUCKET_RE.test(bucket)) {
    throw new BusInvalidArgumentError(`invalid KV bucket ${JSON.stringify(bucket)}: use 1-64 of A-Z a-z 0-9 _ -`, {
      details: { field: "bucket", key: bucket },
    });
  }
  return bucket;
}

/** Key prefix -> subject filter: a prefix ending in "." can be filtered server-side. */
function filterFor(prefix: string | undefined): string {
  if (!prefix) return ">";
  if (prefix.endsWith(".") && prefix.length > 1) return validateKvKey(prefix.slice(0, -1)) + ".>";
  return ">";
}

class NatsProtoKv<T> implements ProtoKv<T> {
  constructor(
    readonly bucket: string,
    private readonly kv: KV,
    private readonly codec: KvCodec<T>,
  ) {}

  private what(op: string, key?: string): string {
    return key === undefined ? `kv ${this.bucket} ${op}` : `kv ${this.bucket} ${op} ${key}`;
  }

  private decode(e: KvEntry): T {
    const json = decodeJson(e.value, `${this.bucket}/${e.key}`);
    try {
      return this.codec.decode(json);
    } catch (cause) {
      throw new BusInvalidArgumentError(`${this.what("decode", e.key)}: stored value does not decode`, {
        cause,
        details: { key: e.key },
      });
    }
  }

  private encode(v: T): Uint8Array {
    return encodeJson(this.codec.encode(v));
  }

  async get(key: string) {
    validateKvKey(key);
    let e: KvEntry | null;
    try {
      e = await this.kv.get(key);
    } catch (err) {
      throw toBusError(err, this.what("get", key), { key });
    }
    if (!e || e.operation !== "PUT") return null;
    return { value: this.decode(e), revision: e.revision };
  }

  async create(key: string, value: T) {
    validateKvKey(key);
    try {
      return await this.kv.create(key, this.encode(value));
    } catch (err) {
      throw toBusError(err, this.what("create", key), { key });
    }
  }

  async update(key: string, value: T, revision: number) {
    validateKvKey(key);
    if (!(Number.isInteger(revision) && revision >= 1)) {
      throw new BusInvalidArgumentError(`${this.what("update", key)}: revision must be an integer >= 1, got ${revision}`, {
        details: { key, field: "revision" },
      });
    }
    try {
      return await this.kv.update(key, this.encode(value), revision);
    } catch (err) {
      throw toBusError(err, this.what("update", key), { key });
    }
  }

  async put(key: string, value: T) {
    validateKvKey(key);
    try {
      return await this.kv.put(key, this.encode(value));
    } catch (err) {
      throw toBusError(err, this.what("put", key), { key });
    }
  }

  async delete(key: string) {
    validateKvKey(key);
    try {
      await this.kv.delete(key);
    } catch (err) {
      throw toBusError(err, this.what("delete", key), { key });
    }
  }

  async keys(prefix?: string) {
    const out: string[] = [];
    try {
      for await (const k of await this.kv.keys(filterFor(prefix))) {
        if (!prefix || k.startsWith(prefix)) out.push(k);
      }
    } catch (err) {
      throw toBusError(err, this.what("keys", prefix));
    }
    return out.sort();
  }

  async values(prefix?: string) {
    const keys = await this.keys(prefix);
    const entries = await Promise.all(keys.map((k) => this.get(k)));
    // A key deleted between listing and reading is simply absent.
    return entries.flatMap((e) => (e ? [e.value] : []));
  }

  async *watch(opts: { key?: string; signal?: AbortSignal } = {}) {
    const { key, signal } = opts;
    if (key !== undefined) validateKvWatchKey(key);
    if (signal?.aborted) return;
    let iter;
    try {
      iter = await this.kv.watch({ key: key ?? ">" });
    } catch (err) {
      throw toBusError(err, this.what("watch", key), { key: key ?? ">" });
    }
    const onAbort = () => iter.stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const e of iter) {
        if (signal?.aborted) break;
        yield { key: e.key, value: e.operation === "PUT" ? this.decode(e) : null, revision: e.revision };
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      iter.stop();
    }
  }
}

/** Opens the bucket, creating it when missing (history >= KV_DEFAULTS.history). */
export async function openProtoKv<T>(nc: NatsConnection, bucket: string, codec: KvCodec<T>): Promise<ProtoKv<T>> {
  validateBucket(bucket);
  try {
    const kv = await new Kvm(nc).create(bucket, { history: KV_DEFAULTS.history });
    return new NatsProtoKv(bucket, kv, codec);
  } catch (err) {
    throw toBusError(err, `open kv ${bucket}`, { key: bucket });
  }
}
