import { ObjectExistsError, ObjectNotFoundError, StoreError, StoreUnavailableError } from "./errors.js";

// S3 error codes a retry can cure: server-side hiccups and throttling. MinIO adds its
// own quorum / start-up codes. Everything else (AccessDenied, NoSuchBucket, ...) is a
// configuration or request problem that retrying will not fix.
const TRANSIENT_S3_CODES = new Set([
  "InternalError",
  "ServiceUnavailable",
  "SlowDown",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "OperationAborted",
  "Throttling",
  "ThrottlingException",
  "RequestLimitExceeded",
  "TooManyRequests",
  "BadDigest",
  "IncompleteBody",
  "XMinioServerNotInitialized",
  "XMinioReadQuorum",
  "XMinioWriteQuorum",
  "XMinioStorageFull",
]);

// Socket-level failures: the server is down, restarting, or the connection broke.
const TRANSIENT_NET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

// minio-js 8.0.x checks 408/429/499/5xx before parsing the S3 error body and throws a
// plain Error "Request failed after N retries: Error: Retryable HTTP status: 503" with no
// code, even with its own retry disabled. The status in that text is all there is to go on.
const MINIO_RETRYABLE_STATUS = /Retryable HTTP status: (\d{3})/;

function errCode(err: unknown): string | undefined {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  if (err instanceof Error) {
    const status = MINIO_RETRYABLE_STATUS.exec(err.message)?.[1];
    if (status) return `HTTP${status}`;
  }
  return undefined;
}

/** True for store / S3 / network failures worth retrying (mapped or not). */
export function isTransientStoreError(err: unknown): boolean {
  if (err instanceof StoreError) return err.retryable;
  const code = errCode(err);
  if (code && (TRANSIENT_S3_CODES.has(code) || TRANSIENT_NET_CODES.has(code) || code.startsWith("HTTP"))) return true;
  // minio-js reports some 5xx without an XML body as S3Error with an empty code.
  return err instanceof Error && err.name === "S3Error" && !code;
}

/**
 * Maps a minio-js / socket error for `key` to our error types:
 * - NoSuchKey / NotFound (HEAD has no body, so minio-js says "NotFound") -> ObjectNotFoundError
 * - PreconditionFailed (If-None-Match: * lost the race)               -> ObjectExistsError
 * - transient codes after retries                                       -> StoreUnavailableError (retryable)
 * - anything else                                                       -> StoreError (not retryable), cause kept
 */
export function mapS3Error(err: unknown, key: string, op: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = errCode(err);
  const detail = code?.startsWith("HTTP")
    ? `HTTP status ${code.slice(4)}`
    : err instanceof Error
      ? err.message || code || err.name
      : String(err);
  if (code === "NoSuchKey" || code === "NotFound") return new ObjectNotFoundError(key, { cause: err });
  if (code === "PreconditionFailed") return new ObjectExistsError(key, { cause: err });
  if (isTransientStoreError(err)) {
    return new StoreUnavailableError(`S3 ${op} ${key} failed (store unavailable): ${detail}`, { key, cause: err });
  }
  return new StoreError(`S3 ${op} ${key} failed${code ? ` (${code})` : ""}: ${detail}`, { key, cause: err });
}
