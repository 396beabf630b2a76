// Errors the bus raises. Consumers decide ack / nak / term from `retryable`, never from message text.

/** What an error is about, for messages and for mapping to API errors (gRPC details). */
export interface BusErrorDetails {
  /** KV key, stream or consumer name at fault. */
  key?: string;
  /** Field of an input (e.g. `jobId`, `runId`). */
  field?: string;
  /** NATS subject involved. */
  subject?: string;
}

export interface BusErrorOptions {
  cause?: unknown;
  details?: BusErrorDetails;
}

/** Base class: every failure leaving the bus is one of these. */
export class BusError extends Error {
  override name = "BusError";
  readonly retryable: boolean = false;
  readonly details: BusErrorDetails;
  constructor(message: string, opts: BusErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.details = opts.details ?? {};
  }
}

/** NATS cannot be reached or did not answer in time; the same call may succeed later. */
export class BusUnavailableError extends BusError {
  override name = "BusUnavailableError";
  override readonly retryable = true;
}

/** A bad subject token, KV key, payload or option: retrying the same input cannot help. */
export class BusInvalidArgumentError extends BusError {
  override name = "BusInvalidArgumentError";
}

/** A stream, consumer or bucket is missing (ensureStreams not run, or deleted by an admin). */
export class BusNotFoundError extends BusError {
  override name = "BusNotFoundError";
}

/** Server-side configuration conflicts with what was asked (e.g. overlapping work-queue consumers). */
export class BusConfigError extends BusError {
  override name = "BusConfigError";
}

/** The connection's credentials do not allow the operation. */
export class BusPermissionError extends BusError {
  override name = "BusPermissionError";
}

/** KV compare-and-set lost: the key exists (create) or changed (update). Re-read and try again. */
export class KvConflictError extends BusError {
  override name = "KvConflictError";
  override readonly retryable = true;
}

/** True when the error says a retry can help (`retryable === true`), whatever its class. */
export function isRetryable(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { retryable?: unknown }).retryable === true;
}
