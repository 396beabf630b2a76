// Expected failures of the judging library, on core's ApiError: the code says how an API caller sees
// them; job consumers decide ack/nak/term from `retryable`.
import { ApiError, type ErrorDetails, status as Code } from "@mambalign/core";

/** What was at fault in the input: the field, the 1-based row of a file, the key or path. */
export type ValidationDetails = Pick<ErrorDetails, "field" | "row" | "key">;

/** Bad input (a malformed file, a missing field): retrying cannot help. */
export class ValidationError extends ApiError {
  override name = "ValidationError";
  constructor(message: string, details: ValidationDetails = {}, options?: { cause?: unknown }) {
    super(Code.INVALID_ARGUMENT, message, { ...details }, options);
  }
}

/** The judge endpoint failed; `status` is its HTTP status when it answered. */
class JudgeError extends ApiError {
  static readonly code: Code = Code.INTERNAL;
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super((new.target as typeof JudgeError).code, message, {}, options);
  }
}

/** The judge endpoint stayed unreachable, rate-limited or failing (429/5xx/network) after all retries. */
export class JudgeUnavailableError extends JudgeError {
  override name = "JudgeUnavailableError";
  static override readonly code = Code.UNAVAILABLE;
}

/** The judge endpoint refused the request (400, 401, 403, 404...) or answered something unusable. */
export class JudgeRejectedError extends JudgeError {
  override name = "JudgeRejectedError";
}
