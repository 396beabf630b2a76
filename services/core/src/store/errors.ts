// Expected store failures, on the one ApiError base. Each says whether a retry can help (`retryable`) so
// job consumers decide ack / nak / terminate from the type, never from the message.
import { status } from "@grpc/grpc-js";
import { ApiError } from "../errors.js";

export interface StoreErrorOptions {
  /** The object key (or uri) at fault, when there is one. */
  key?: string;
  retryable?: boolean;
  cause?: unknown;
}

/** A store failure; without a more precise class: INTERNAL, or UNAVAILABLE when retrying can help. */
export class StoreError extends ApiError {
  override name = "StoreError";
  constructor(message: string, opts: StoreErrorOptions = {}, code?: status, field?: string) {
    const retryable = opts.retryable ?? false;
    const details = { ...(opts.key === undefined ? {} : { key: opts.key }), ...(field === undefined ? {} : { field }) };
    super(code ?? (retryable ? status.UNAVAILABLE : status.INTERNAL), message, details, { cause: opts.cause, retryable });
  }
}

export class ObjectNotFoundError extends StoreError {
  override name = "ObjectNotFoundError";
  constructor(key: string, opts: { cause?: unknown; message?: string } = {}) {
    super(opts.message ?? `object not found: ${key}`, { key, cause: opts.cause }, status.NOT_FOUND);
  }
}

/** A create-only write (`ifNoneMatch`) found the key already present. */
export class ObjectExistsError extends StoreError {
  override name = "ObjectExistsError";
  constructor(key: string, opts: { cause?: unknown; message?: string } = {}) {
    super(opts.message ?? `object already exists: ${key}`, { key, cause: opts.cause }, status.ALREADY_EXISTS);
  }
}

export class InvalidKeyError extends StoreError {
  override name = "InvalidKeyError";
  constructor(key: string, field: string, reason: string) {
    super(`invalid ${field} ${JSON.stringify(key)}: ${reason}`, { key }, status.INVALID_ARGUMENT, field);
  }
}

/** The store could not be reached or kept failing transiently; retrying later may help. */
export class StoreUnavailableError extends StoreError {
  override name = "StoreUnavailableError";
  constructor(message: string, opts: { key?: string; cause?: unknown } = {}) {
    super(message, { ...opts, retryable: true });
  }
}

/** A manifest.json that exists but is not a valid manifest (not retryable: the bytes will not change). */
export class InvalidManifestError extends StoreError {
  override name = "InvalidManifestError";
  constructor(key: string, reason: string, opts: { cause?: unknown } = {}) {
    super(`invalid manifest ${key}: ${reason}`, { key, cause: opts.cause });
  }
}

/** Downloaded bytes do not match the manifest (corrupt or tampered object). */
export class ChecksumMismatchError extends StoreError {
  override name = "ChecksumMismatchError";
  constructor(
    key: string,
    readonly path: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`checksum mismatch for ${path} (${key}): manifest says ${expected}, got ${actual}`, { key });
  }
}
