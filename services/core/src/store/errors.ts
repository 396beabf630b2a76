// Expected store failures. Each says whether a retry can help (`retryable`) so job
// consumers decide ack / nak / terminate from the type, never from the message.

export class StoreError extends Error {
  override name = "StoreError";
  readonly retryable: boolean;
  /** The object key (or uri) at fault, when there is one. */
  readonly key: string | undefined;
  constructor(message: string, opts: { key?: string; retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.key = opts.key;
    this.retryable = opts.retryable ?? false;
  }
}

export class ObjectNotFoundError extends StoreError {
  override name = "ObjectNotFoundError";
  constructor(key: string, opts: { cause?: unknown; message?: string } = {}) {
    super(opts.message ?? `object not found: ${key}`, { key, retryable: false, cause: opts.cause });
  }
}

/** A create-only write (`ifNoneMatch`) found the key already present. */
export class ObjectExistsError extends StoreError {
  override name = "ObjectExistsError";
  constructor(key: string, opts: { cause?: unknown; message?: string } = {}) {
    super(opts.message ?? `object already exists: ${key}`, { key, retryable: false, cause: opts.cause });
  }
}

export class InvalidKeyError extends StoreError {
  override name = "InvalidKeyError";
  readonly field: string;
  constructor(key: string, field: string, reason: string) {
    super(`invalid ${field} ${JSON.stringify(key)}: ${reason}`, { key, retryable: false });
    this.field = field;
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
    super(`invalid manifest ${key}: ${reason}`, { key, retryable: false, cause: opts.cause });
  }
}

/** Downloaded bytes do not match the manifest (corrupt or tampered object). */
export class ChecksumMismatchError extends StoreError {
  override name = "ChecksumMismatchError";
  readonly path: string;
  readonly expected: string;
  readonly actual: string;
  constructor(key: string, path: string, expected: string, actual: string) {
    super(`checksum mismatch for ${path} (${key}): manifest says ${expected}, got ${actual}`, { key, retryable: false });
    this.path = path;
    this.expected = expected;
    this.actual = actual;
  }
}

/** True when retrying the same operation may succeed. */
export function isRetryable(err: unknown): boolean {
  return err instanceof StoreError && err.retryable;
}
