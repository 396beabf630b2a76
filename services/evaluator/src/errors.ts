// Expected failures of an eval job, on core's ApiError. Each says whether a retry can help (`retryable`),
// so the job worker acks, naks or terminates from the type, never from the message.
import { ApiError, status } from "@mambalign/core";

/** The job can never succeed as given (bad field, unknown version, missing data): FAILED, not retried. */
export class InvalidEvalJobError extends ApiError {
  override name = "InvalidEvalJobError";
  constructor(
    /** The StageJob / EvalArgs field (or file) at fault. */
    field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(status.INVALID_ARGUMENT, `${field}: ${message}`, { field }, options);
  }
}

/** The Python runtime failed; retryable when its error event or exit code says a rerun can help. */
export class RuntimeFailedError extends ApiError {
  override name = "RuntimeFailedError";
  constructor(
    message: string,
    readonly exitCode: number | null,
    retryable: boolean,
    /** Spec field or file the runtime named, when it did. */
    field: string | undefined,
  ) {
    super(retryable ? status.UNAVAILABLE : status.INTERNAL, message, field === undefined ? {} : { field }, { retryable });
  }
}
