// Opens a dataset source (local path, file:// URI, or s3:// URI of our bucket) as numbered
// records: JSONL lines, or Parquet rows (by the .parquet extension).
import { createReadStream } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { status } from "@grpc/grpc-js";
import { ApiError, type LocalRoots, locateUserUri, type ObjectStore, parseS3Uri, StoreError } from "@mambalign/core";
import { parseHubId } from "./hub-client.js";
import { readParquetRows } from "./parquet-rows.js";

export type SourceLocation =
  | { kind: "local"; path: string }
  | { kind: "store"; key: string }
  | { kind: "hub"; repo: string; revision: string };

const EXPLICIT_LOCAL = /^(\/|\.\/|\.\.\/|~)/;
const DATA_FILE = /\.(jsonl|json|parquet)$/i;

/**
 * Where a source uri points, checked before anything is read: an s3:// URI must be in this
 * deployment's bucket (the store reads it); `org/name[@revision]` is a Hugging Face Hub
 * dataset (the recipe layer's rule: paths start with /, ./ or ../ or end in a data-file
 * extension); anything else is a local file.
 */
export function locateSource(store: ObjectStore, uri: string, field: string): SourceLocation {
  if (!EXPLICIT_LOCAL.test(uri) && !DATA_FILE.test(uri) && !uri.includes("://")) {
    const hub = parseHubId(uri);
    if (hub) return { kind: "hub", ...hub };
  }
  const loc = locateUserUri(uri, field, "a local path, a file:// URI or an s3:// URI");
  if (loc.kind === "local") return loc; // confined to the data roots by checkSource
  try {
    parseS3Uri(uri);
    return { kind: "store", key: store.keyFromUri(uri) };
  } catch (err) {
    const why = err instanceof StoreError ? err.message : String(err);
    throw ApiError.invalidArgument(field, `${uri} is not an object in this deployment's store (${why})`, { key: uri });
  }
}

/**
 * Checks the source exists (NOT_FOUND naming the field otherwise), so a typo fails before any work;
 * a local path must lie under the configured data roots (its real path is returned to read from).
 */
export async function checkSource(
  store: ObjectStore,
  roots: LocalRoots,
  loc: SourceLocation,
  uri: string,
  field: string,
): Promise<SourceLocation> {
  const missing = () => new ApiError(status.NOT_FOUND, `${field}: ${uri} does not exist`, { field, key: uri });
  if (loc.kind === "hub") return loc; // resolved against the Hub when read
  if (loc.kind === "store") {
    if (!(await store.stat(loc.key))) throw missing();
    return loc;
  }
  const real = await roots.existing(loc.path, field);
  const st = await fsp.stat(real).catch(() => null);
  if (!st) throw missing();
  if (!st.isFile()) throw ApiError.invalidArgument(field, `${uri} is not a regular file`);
  return { kind: "local", path: real };
}

/** One line of a source: its text, or `invalid` when its bytes are not UTF-8 (then `line` is a lossy copy). */
export type SourceLine = { row: number; line: string; invalidUtf8?: true };

// Per line and strict: a bad byte sequence makes that row bad (quarantined by number) instead of
// turning silently into U+FFFD inside a training example.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lossyUtf8 = new TextDecoder("utf-8");

function decodeLine(row: number, bytes: Uint8Array): SourceLine {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length; // CRLF
  const body = bytes.subarray(0, end);
  try {
    return { row, line: strictUtf8.decode(body) };
  } catch {
    return { row, line: lossyUtf8.decode(body), invalidUtf8: true };
  }
}

/** The source's lines with their 1-based line numbers (CRLF tolerated), split on bytes and decoded one by one. */
export async function* readLines(store: ObjectStore, loc: SourceLocation & { kind: "local" | "store" }): AsyncIterable<SourceLine> {
  const input = loc.kind === "store" ? await store.getStream(loc.key) : createReadStream(loc.path);
  let row = 0;
  let pending: Buffer[] = [];
  for await (const data of input as AsyncIterable<Buffer | string>) {
    const chunk = typeof data === "string" ? Buffer.from(data) : data;
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      yield decodeLine(++row, pending.length > 0 ? Buffer.concat([...pending, piece]) : piece);
      pending = [];
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) yield decodeLine(++row, Buffer.concat(pending));
}

/** One record of a source: a JSON object, or why it is not one (with the raw text to quarantine). */
export type SourceRecord = { row: number; value: Record<string, unknown>; raw?: string } | { row: number; error: string; raw: string };

export function isParquet(uri: string): boolean {
  return /\.parquet$/i.test(uri);
}

/**
 * Why a line is not JSON, without its text: V8's messages quote the input (`"ssh-rsa AAAA"... is
 * not valid JSON`), and reasons travel into errors and cards, so only the position is kept.
 */
function jsonSyntaxReason(err: unknown): string {
  const at = /at position (\d+)/.exec(err instanceof Error ? err.message : "");
  return at ? `not JSON (syntax error at character ${Number(at[1]) + 1})` : "not JSON (syntax error)";
}

/** Parses one JSONL line into a record; the reason of a bad one never quotes the line. */
export function parseJsonLine(row: number, line: string): SourceRecord {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    return { row, error: jsonSyntaxReason(err), raw: line };
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return { row, error: "not a JSON object", raw: line };
  return { row, value: obj as Record<string, unknown>, raw: line };
}

/**
 * The records of a source. Parquet needs random access, so one in the store is first copied
 * to `scratchDir`; JSONL streams. Blank JSONL lines are not rows.
 */
export async function* readRecords(
  store: ObjectStore,
  loc: SourceLocation & { kind: "local" | "store" },
  uri: string,
  field: string,
  scratchDir: string,
): AsyncIterable<SourceRecord> {
  if (isParquet(uri)) {
    let file = loc.kind === "local" ? loc.path : "";
    if (loc.kind === "store") {
      file = path.join(scratchDir, `${Date.now()}-${path.basename(loc.key)}`);
      await store.getFile(loc.key, file);
    }
    try {
      yield* readParquetRows(file);
    } catch (err) {
      throw ApiError.invalidArgument(field, `${uri} is not a readable Parquet file: ${err instanceof Error ? err.message : String(err)}`, { key: uri });
    } finally {
      if (loc.kind === "store") await fsp.rm(file, { force: true });
    }
    return;
  }
  for await (const { row, line, invalidUtf8 } of readLines(store, loc)) {
    if (invalidUtf8) yield { row, error: "not valid UTF-8 text", raw: line };
    else if (line.trim() !== "") yield parseJsonLine(row, line);
  }
}
