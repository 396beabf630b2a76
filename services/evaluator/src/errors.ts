// Expected failures of an eval job. Each says whether a retry can help (`retryable`), so the job
// worker acks, naks or terminates from the type, never from the message.

/** The job can never succeed as given (bad field, unknown version, missing data): FAILED, not retried. */
export class InvalidEvalJobError extends Error {
  override name = "InvalidEvalJobError";
  readonly retryable = false;
  constructor(
    /** The StageJob / EvalArgs field (or file) at fault. */
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** The Python runtime failed; retryable when its error event or exit code says a rerun can help. */
export class RuntimeFailedError extends Error {
  override name = "RuntimeFailedError";
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly retryable: boolean,
    /** Spec field or file the runtime named, when it did. */
    readonly field: string | undefined,
  ) {
    super(message);
  }
}
