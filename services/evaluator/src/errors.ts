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
