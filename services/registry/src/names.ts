// Registry names, aliases and version ids: `<name>/v<N>`. Names become KV keys and object keys,
// so they are checked before anything else happens.
import { ApiError, validateName } from "@mambalign/core";

export const LATEST = "latest";

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
