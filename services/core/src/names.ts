// Names callers give datasets and registry versions: they become NATS KV keys and object keys, so
// they are checked before anything else happens.
import { ApiError } from "./errors.js";

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** `[a-z0-9][a-z0-9._-]{0,62}`, with no ".." and no trailing "." (NATS KV key rules). */
export function validateName(name: string, field = "name"): string {
  if (!NAME_RE.test(name) || name.includes("..") || name.endsWith(".")) {
    throw ApiError.invalidArgument(
      field,
      `invalid name ${JSON.stringify(name)}: use 1-63 of a-z 0-9 . _ - starting with a letter or digit (no "..", no trailing ".")`,
      { key: name },
    );
  }
  return name;
}
