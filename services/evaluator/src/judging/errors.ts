// Expected failures of the judging library. Core's toApiError maps errors by class `name`
// (ValidationError -> INVALID_ARGUMENT); job consumers decide ack/nak/term from `retryable`.

/** What was at fault in the input: the field, the 1-based row of a file, the key or path. */
export interface ValidationDetails {
  field?: string;
  row?: number;
  key?: string;
}

/** Bad input (a malformed file, a missing field): retrying cannot help. */
export class ValidationError extends Error {
  override name = "ValidationError";
  readonly retryable = false;
  readonly field: string | undefined;
  readonly row: number | undefined;
  readonly key: string | undefined;
  constructor(message: string, details: ValidationDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.field = details.field;
    this.row = details.row;
    this.key = details.key;
  }
}

/** The judge endpoint stayed unreachable, rate-limited or failing (429/5xx/network) after all retries. */
export class JudgeUnavailableError extends Error {
  override name = "JudgeUnavailableError";
  readonly retryable = true;
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The judge endpoint refused the request (400, 401, 403, 404...) or answered something unusable. */
export class JudgeRejectedError extends Error {
  override name = "JudgeRejectedError";
  readonly retryable = false;
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
