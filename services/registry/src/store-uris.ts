// Turns user-given locations (s3:// prefix, file:// URI or local directory) into store prefixes.
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { ApiError, MANIFEST_NAME, type ObjectStore, StoreError } from "@mambalign/core";

/**
 * The store prefix a uri names: an s3:// prefix of our bucket, or (fs store) a file:// URI or
 * local directory inside the store root. Errors are INVALID_ARGUMENT naming `field`.
 */
export function prefixFromUri(store: ObjectStore, uri: string, field: string): string {
  if (uri === "") throw ApiError.invalidArgument(field, "must not be empty");
  const trimmed = uri.replace(/\/+$/, "");
  const asUri = /^(s3|file):\/\//.test(trimmed) ? trimmed : path.isAbsolute(trimmed) ? pathToFileURL(trimmed).href : null;
  if (!asUri) throw ApiError.invalidArgument(field, `${uri}: expected an s3:// prefix, a file:// URI or an absolute directory`);
  try {
    // keyFromUri names objects; ask for the manifest's key and drop its name to get the prefix.
    const key = store.keyFromUri(`${asUri}/${MANIFEST_NAME}`);
    if (key === MANIFEST_NAME) throw new StoreError("names the whole store, not a prefix", { key: uri });
    return key.slice(0, -(MANIFEST_NAME.length + 1));
  } catch (err) {
    const why = err instanceof StoreError ? err.message : String(err);
    throw ApiError.invalidArgument(field, `${uri} is not a prefix of this deployment's store (${why})`, { key: uri });
  }
}
