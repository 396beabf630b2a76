// Opens a dataset source (local path, file:// URI, or s3:// URI of our bucket) as numbered lines.
import { createReadStream } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { status } from "@grpc/grpc-js";
import { ApiError, type ObjectStore, parseS3Uri, StoreError } from "@mambalign/core";

export type SourceLocation = { kind: "local"; path: string } | { kind: "store"; key: string };

/**
 * Where a source uri points, checked before anything is read: an s3:// URI must be in this
 * deployment's bucket (the store reads it), anything else is a local file.
 */
export function locateSource(store: ObjectStore, uri: string, field: string): SourceLocation {
  if (uri === "") throw ApiError.invalidArgument(field, "must not be empty");
  if (uri.startsWith("s3://")) {
    try {
      parseS3Uri(uri);
      return { kind: "store", key: store.keyFromUri(uri) };
    } catch (err) {
      const why = err instanceof StoreError ? err.message : String(err);
      throw ApiError.invalidArgument(field, `${uri} is not an object in this deployment's store (${why})`, { key: uri });
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith("file://")) {
    throw ApiError.invalidArgument(field, `${uri}: expected a local path, a file:// URI or an s3:// URI`);
  }
  let p: string;
  try {
    p = uri.startsWith("file://") ? fileURLToPath(uri) : path.resolve(uri);
  } catch (err) {
    throw ApiError.invalidArgument(field, `${uri}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { kind: "local", path: p };
}

/** Checks the source exists (NOT_FOUND naming the field otherwise), so a typo fails before any work. */
export async function checkSourceExists(store: ObjectStore, loc: SourceLocation, uri: string, field: string): Promise<void> {
  const missing = () => new ApiError(status.NOT_FOUND, `${field}: ${uri} does not exist`, { field, key: uri });
  if (loc.kind === "store") {
    if (!(await store.stat(loc.key))) throw missing();
    return;
  }
  const st = await fsp.stat(loc.path).catch(() => null);
  if (!st) throw missing();
  if (!st.isFile()) throw ApiError.invalidArgument(field, `${uri} is not a regular file`);
}

/** The source's lines with their 1-based line numbers (CRLF tolerated). */
export async function* readLines(store: ObjectStore, loc: SourceLocation): AsyncIterable<{ row: number; line: string }> {
  const input = loc.kind === "store" ? await store.getStream(loc.key) : createReadStream(loc.path);
  const rl = createInterface({ input, crlfDelay: Infinity });
  let row = 0;
  try {
    for await (const line of rl) {
      row += 1;
      yield { row, line };
    }
  } finally {
    rl.close();
  }
}
