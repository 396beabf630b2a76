// Registry names, aliases and version ids: `<name>/v<N>`. Names become KV keys and object keys,
// so they are checked before anything else happens.
import { ApiError } from "@mambalign/core";

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const LATEST = "latest";

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

/** Aliases follow the name rules; `v<N>` is refused so an alias never reads like a version. */
export function validateAlias(alias: string, field = "alias"): string {
  validateName(alias, field);
  if (/^v\d+$/.test(alias)) throw ApiError.invalidArgument(field, `${JSON.stringify(alias)} looks like a version number`, { key: alias });
  return alias;
}

export function versionId(name: string, version: number): string {
  return `${name}/v${version}`;
}

/** Parses `<name>/v<N>` (N >= 1). */
export function parseVersionId(id: string, field = "id"): { name: string; version: number } {
  const m = /^([^/]+)\/v([1-9]\d{0,8})$/.exec(id);
  if (!m) throw ApiError.invalidArgument(field, `invalid version id ${JSON.stringify(id)}: expected "<name>/v<N>"`, { key: id });
  return { name: validateName(m[1] as string, field), version: Number(m[2]) };
}

/** Object prefix of a version's files. */
export function versionPrefix(name: string, version: number): string {
  return `adapters/${versionId(name, version)}`;
}
