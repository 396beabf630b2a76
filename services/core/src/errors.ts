// The one error base of mambalign (after connect-es `ConnectError`): every expected failure, of any
// service or dependency, is an ApiError (or a subclass) carrying its gRPC status code, whether a retry
// can help, the details at fault (field, row, key) and its cause. gRPC handlers map by `code`; job
// consumers settle (ack / nak / term) by `retryable`; nothing is matched by class name or text.
import { status } from "@grpc/grpc-js";

/** The codes an ApiError carries (gRPC's), re-exported so services need no gRPC import to raise one. */
export { status };

/** What was at fault: the request field, the data row, the object key. */
export interface ErrorDetails {
  field?: string;
  row?: number;
  key?: string;
  [extra: string]: unknown;
}

export interface ApiErrorOptions {
  cause?: unknown;
  /** Overrides the code's verdict (e.g. a runtime exit that a rerun can cure, reported as INTERNAL). */
  retryable?: boolean;
}

// Codes a later call can turn into success: the dependency was down, busy, or a race was lost.
const RETRYABLE_CODES = new Set<status>([status.UNAVAILABLE, status.RESOURCE_EXHAUSTED, status.ABORTED, status.DEADLINE_EXCEEDED]);

export class ApiError extends Error {
  override name = "ApiError";
  /** Whether calling again later can succeed; job consumers nak or terminate from this. */
  readonly retryable: boolean;
  constructor(
    readonly code: status,
    message: string,
    readonly details: ErrorDetails = {},
    options: ApiErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? RETRYABLE_CODES.has(code);
  }

  /** The request / spec field at fault, when known. */
  get field(): string | undefined {
    return this.details.field;
  }
  /** The object key, KV key or URI at fault, when known. */
  get key(): string | undefined {
    return this.details.key;
  }
  /** The 1-based row of a data file at fault, when known. */
  get row(): number | undefined {
    return this.details.row;
  }

  static invalidArgument(field: string, message: string, details: ErrorDetails = {}): ApiError {
    return new ApiError(status.INVALID_ARGUMENT, `${field}: ${message}`, { field, ...details });
  }
  static notFound(what: string, id: string): ApiError {
    return new ApiError(status.NOT_FOUND, `${what} ${JSON.stringify(id)} not found`, { key: id });
  }
  static failedPrecondition(message: string, details: ErrorDetails = {}): ApiError {
    return new ApiError(status.FAILED_PRECONDITION, message, details);
  }
  static unavailable(message: string, cause?: unknown): ApiError {
    return new ApiError(status.UNAVAILABLE, message, {}, { cause });
  }
}

/** Converts anything thrown into an ApiError: ours pass through, anything else is INTERNAL (a bug to fix). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(status.INTERNAL, `internal error: ${message}`, {}, { cause: err });
}

/** True when the error says a retry can help (`retryable === true`). */
export function isRetryable(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { retryable?: unknown }).retryable === true;
}
