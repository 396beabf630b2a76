import { InvalidKeyError } from "./errors.js";

const MAX_KEY_BYTES = 1024;
// C0 controls and DEL: they break logs, shells and some S3 tools.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * Checks an object key (or a path inside a manifest) and returns it unchanged.
 * Rejects what could escape a prefix or a local directory: "", "." / ".." segments,
 * a leading "/", "\\", empty segments ("//" or a trailing "/"), control characters,
 * and keys over 1024 UTF-8 bytes (the S3 limit).
 */
export function validateKey(key: string, field = "key"): string {
  const reason = keyProblem(key);
  if (reason) throw new InvalidKeyError(key, field, reason);
  return key;
}

/**
 * Like validateKey for a prefix: "" (everything) and a trailing "/" are allowed.
 */
export function validatePrefix(prefix: string, field = "prefix"): string {
  const reason = prefixProblem(prefix);
  if (reason) throw new InvalidKeyError(prefix, field, reason);
  return prefix;
}

function prefixProblem(prefix: string): string | undefined {
  if (prefix === "") return undefined;
  return keyProblem(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
}

function keyProblem(key: string): string | undefined {
  if (typeof key !== "string") return "must be a string";
  if (key === "") return "must not be empty";
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) return `longer than ${MAX_KEY_BYTES} bytes`;
  if (CONTROL_CHARS.test(key)) return "contains a control character";
  if (key.includes("\\")) return 'contains "\\"';
  if (key.startsWith("/")) return 'starts with "/"';
  for (const seg of key.split("/")) {
    if (seg === "") return "has an empty path segment";
    if (seg === "." || seg === "..") return `has a "${seg}" path segment`;
  }
  return undefined;
}

/** Joins a prefix (with or without trailing "/") and a relative path into a validated key. */
export function joinKey(prefix: string, path: string, field = "key"): string {
  const base = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  return validateKey(base === "" ? path : `${base}/${path}`, field);
}

/** Parses "s3://<bucket>/<key>"; the key may be "" or end with "/" (a prefix). */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/s.exec(uri);
  if (!m || !m[1]) throw new InvalidKeyError(uri, "uri", 'expected "s3://<bucket>/<key>"');
  const bucket = m[1];
  // Bucket naming rules (lowercase, digits, dots, hyphens; 3-63 chars) per S3.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new InvalidKeyError(uri, "uri", `invalid bucket name ${JSON.stringify(bucket)}`);
  }
  const key = m[2] ?? "";
  const reason = prefixProblem(key);
  if (reason) throw new InvalidKeyError(uri, "uri", `key ${reason}`);
  return { bucket, key };
}

/** S3 orders keys by UTF-8 bytes; JS string comparison uses UTF-16 units, which differs past the BMP. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
