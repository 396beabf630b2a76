// Why a job failed, and whether running it again can help: the job worker naks or terminates from `retryable`.
import { ApiError, type ErrorDetails, status } from "@mambalign/core";

export class JobFailure extends ApiError {
  override name = "JobFailure";
  constructor(message: string, opts: { retryable: boolean; field?: string; cause?: unknown }) {
    const details: ErrorDetails = opts.field ? { field: opts.field } : {};
    super(opts.retryable ? status.UNAVAILABLE : status.FAILED_PRECONDITION, message, details, opts);
  }
}

/** A bad job (unknown stage, missing field): no retry can fix it. */
export function badJob(field: string, message: string): JobFailure {
  return new JobFailure(`${field}: ${message}`, { retryable: false, field });
}

/**
 * Wraps a failure of a dependency (store, bus, gRPC peer) for the job worker, keeping its own
 * verdict on retrying: StoreUnavailableError / BusUnavailableError / ApiError(UNAVAILABLE) retry,
 * a missing object or a NOT_FOUND version does not.
 */
export function dependencyFailure(what: string, err: unknown, field?: string): JobFailure {
  if (err instanceof JobFailure) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const atFault = field ?? (err instanceof ApiError ? err.field : undefined);
  return new JobFailure(`${what}: ${detail}`, { retryable: err instanceof ApiError && err.retryable, field: atFault, cause: err });
}
