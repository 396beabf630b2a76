import { Metadata, status, type ServiceError } from "@grpc/grpc-js";

/** What was at fault: the request field, the data row, the object key. */
export interface ErrorDetails {
  field?: string;
  row?: number;
  key?: string;
  [extra: string]: unknown;
}

const DETAILS_HEADER = "x-mambalign-error-details";

/** The one error type of the API surface: a gRPC status, a message for humans, details and a cause. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly code: status,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Whether calling again later can succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
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

const RETRYABLE = new Set<status>([
  status.UNAVAILABLE,
  status.RESOURCE_EXHAUSTED,
  status.ABORTED,
  status.DEADLINE_EXCEEDED,
]);

// Expected failures of other core modules, mapped by their error class name (never by message text).
// Each maps where a client can act on it: bad input is INVALID_ARGUMENT, a lost race ABORTED (retry),
// a dependency down UNAVAILABLE (retry later).
const BY_NAME: Record<string, status> = {
  InvalidKeyError: status.INVALID_ARGUMENT,
  RecipeError: status.INVALID_ARGUMENT,
  ValidationError: status.INVALID_ARGUMENT,
  ObjectNotFoundError: status.NOT_FOUND,
  ObjectExistsError: status.ALREADY_EXISTS,
  KvConflictError: status.ABORTED,
  StoreUnavailableError: status.UNAVAILABLE,
  BusUnavailableError: status.UNAVAILABLE,
  ConfigError: status.FAILED_PRECONDITION,
};

/** Converts anything thrown into an ApiError, keeping details that name the field, row or key. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof Error) {
    const code = BY_NAME[err.name];
    if (code !== undefined) {
      const e = err as Error & { key?: string; field?: string; row?: number; issues?: { key: string }[] };
      const details: ErrorDetails = {};
      if (e.key) details.key = e.key;
      if (e.field) details.field = e.field;
      if (e.row) details.row = e.row;
      if (!details.field && e.issues?.[0]) details.field = e.issues[0].key;
      return new ApiError(code, err.message, details, { cause: err });
    }
    return new ApiError(status.INTERNAL, `internal error: ${err.message}`, {}, { cause: err });
  }
  return new ApiError(status.INTERNAL, `internal error: ${String(err)}`);
}

/** The gRPC form of an error, with details carried in trailing metadata as JSON. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const api = toApiError(err);
  const metadata = new Metadata();
  metadata.set(DETAILS_HEADER, JSON.stringify(api.details));
  return { code: api.code, details: api.message, message: api.message, metadata };
}

/** Client side: rebuilds the ApiError a server sent. */
export function fromServiceError(err: ServiceError): ApiError {
  let details: ErrorDetails = {};
  const raw = err.metadata?.get(DETAILS_HEADER)?.[0];
  if (typeof raw === "string") {
    try {
      details = JSON.parse(raw) as ErrorDetails;
    } catch {
      // A peer that is not ours: keep the status and message.
    }
  }
  return new ApiError(err.code, err.details || err.message, details, { cause: err });
}
