// Why a job failed, and whether running it again can help: the job worker naks or terminates from `retryable`.
import { isRetryable } from "@mambalign/core";

export class JobFailure extends Error {
  override name = "JobFailure";
  readonly retryable: boolean;
  /** Spec field, job field or file at fault, when known. */
  readonly field: string;
  constructor(message: string, opts: { retryable: boolean; field?: string; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.retryable = opts.retryable;
    this.field = opts.field ?? "";
  }
}

/** The runtime was stopped for a SIGTERM and left a checkpoint: the next delivery resumes from it. */
export class JobPreempted extends JobFailure {
  override name = "JobPreempted";
  constructor(message: string) {
    super(message, { retryable: true });
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
  const retryable = isRetryable(err) || (err as { retryable?: unknown })?.retryable === true;
  const detail = err instanceof Error ? err.message : String(err);
  const e = err as { details?: { field?: string }; field?: string };
  return new JobFailure(`${what}: ${detail}`, { retryable, field: field ?? e?.details?.field ?? e?.field ?? "", cause: err });
}
