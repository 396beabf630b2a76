// Errors the bus raises, on the one ApiError base. Consumers decide ack / nak / term from `retryable`, never from text.
import { status } from "@grpc/grpc-js";
import { ApiError, type ErrorDetails } from "../errors.js";

/** What an error is about: the KV key, stream or consumer (`key`), an input's field, the NATS subject. */
export interface BusErrorDetails extends ErrorDetails {
  subject?: string;
}

export interface BusErrorOptions {
  cause?: unknown;
  details?: BusErrorDetails;
}

/** Base class: every failure leaving the bus is one of these (an unknown one: INTERNAL, not retried). */
export class BusError extends ApiError {
  override name = "BusError";
  /** The status of this kind of failure; each subclass sets its own. */
  static readonly code: status = status.INTERNAL;
  declare readonly details: BusErrorDetails;
  constructor(message: string, opts: BusErrorOptions = {}) {
    super((new.target as typeof BusError).code, message, opts.details ?? {}, { cause: opts.cause });
  }
}

/** NATS cannot be reached or did not answer in time; the same call may succeed later. */
export class BusUnavailableError extends BusError {
  override name = "BusUnavailableError";
  static override readonly code = status.UNAVAILABLE;
}

/** A bad subject token, KV key, payload or option: retrying the same input cannot help. */
export class BusInvalidArgumentError extends BusError {
  override name = "BusInvalidArgumentError";
  static override readonly code = status.INVALID_ARGUMENT;
}

/** A stream, consumer or bucket is missing (ensureStreams not run, or deleted by an admin): the server's fault. */
export class BusNotFoundError extends BusError {
  override name = "BusNotFoundError";
}

/** Server-side configuration conflicts with what was asked (e.g. overlapping work-queue consumers). */
export class BusConfigError extends BusError {
  override name = "BusConfigError";
  static override readonly code = status.FAILED_PRECONDITION;
}

/** The connection's credentials do not allow the operation. */
export class BusPermissionError extends BusError {
  override name = "BusPermissionError";
  static override readonly code = status.PERMISSION_DENIED;
}

/** KV compare-and-set lost: the key exists (create) or changed (update). Re-read and try again. */
export class KvConflictError extends BusError {
  override name = "KvConflictError";
  static override readonly code = status.ABORTED;
}
