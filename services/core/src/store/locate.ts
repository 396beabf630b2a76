// The one place that decides what a model or data uri names: a prefix of our object store (s3://,
// file://), a local path, or a reference the runtime resolves itself (preset:<name>, a Hub id).
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ApiError } from "../errors.js";
import { InvalidKeyError } from "./errors.js";
import type { ObjectStore } from "./object-store.js";

export type Location =
  /** An object (or prefix) of this store. */
  | { kind: "store"; key: string }
  /** A path on this host (absolute, or ./ ../ relative). */
  | { kind: "local"; path: string }
  /** `preset:<name>` or a Hub id: the runtime fetches it. */
  | { kind: "named"; ref: string };

/** Where `uri` points; a store uri outside this store throws InvalidKeyError naming `field`. */
export function locate(store: ObjectStore, uri: string, field: string): Location {
  if (uri.startsWith("s3://") || uri.startsWith("file://")) {
    try {
      // Registry uris name a prefix and may end in "/", which keyFromUri (object keys) refuses.
      return { kind: "store", key: store.keyFromUri(uri.replace(/\/+$/, "")) };
    } catch (err) {
      throw new InvalidKeyError(uri, field, `not in this object store (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  if (path.isAbsolute(uri) || uri.startsWith("./") || uri.startsWith("../")) return { kind: "local", path: path.resolve(uri) };
  return { kind: "named", ref: uri };
}

/**
 * The prefix of this store that `uri` names (a registry source, an export destination): an s3:// or
 * file:// URI, or (fs store) an absolute directory inside the store root; the whole store is refused.
 */
export function locatePrefix(store: ObjectStore, uri: string, field: string): string {
  if (uri === "") throw ApiError.invalidArgument(field, "must not be empty");
  const loc = locate(store, path.isAbsolute(uri) ? pathToFileURL(uri).href : uri, field);
  if (loc.kind !== "store") throw ApiError.invalidArgument(field, `${uri}: expected an s3:// prefix, a file:// URI or an absolute directory`, { key: uri });
  return loc.key;
}

/**
 * A location a user gives a service (a data source, an export destination): an s3:// URI, left to the
 * caller (an object or a prefix of this store), or a local path from a file:// URI or a path, which the
 * caller confines with its LocalRoots. Other schemes are refused, saying what was `expected`.
 */
export function locateUserUri(uri: string, field: string, expected: string): { kind: "s3"; uri: string } | { kind: "local"; path: string } {
  if (uri === "") throw ApiError.invalidArgument(field, "must not be empty");
  if (uri.startsWith("s3://")) return { kind: "s3", uri };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith("file://")) throw ApiError.invalidArgument(field, `${uri}: expected ${expected}`);
  try {
    // Not normalised here: the roots check refuses ".." and resolves the rest.
    return { kind: "local", path: uri.startsWith("file://") ? fileURLToPath(uri) : uri };
  } catch (err) {
    throw ApiError.invalidArgument(field, `${uri}: not a local file URI (${err instanceof Error ? err.message : String(err)})`);
  }
}
