// The gRPC form of an ApiError, both ways. What goes on the wire is bounded and header-safe: errors echo
// user input (a 200 KB id, `café`), and a trailer grpc-js refuses or a peer cannot take must never
// cost the call its answer (a throw here would leave it unanswered, or end the process).
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ApiError, type ErrorDetails, toApiError } from "../errors.js";

const DETAILS_HEADER = "x-mambalign-error-details";

/** Longest message sent (UTF-16 units): grpc-message is percent-encoded into a header of limited size. */
export const MAX_ERROR_MESSAGE = 500;
/** Longest string detail value sent (field, key, ...). */
export const MAX_ERROR_DETAIL = 200;

/** `text` cut to `max` units with a note of how much was left out (no lone surrogate at the cut). */
export function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  if (/[\uD800-\uDBFF]/.test(text[end - 1]!)) end -= 1;
  return `${text.slice(0, end)}... (${text.length - end} more characters)`;
}

function boundedDetails(details: ErrorDetails): ErrorDetails {
  const out: ErrorDetails = {};
  for (const [k, v] of Object.entries(details)) {
    if (typeof v === "string") out[k] = bounded(v, MAX_ERROR_DETAIL);
    else if (typeof v === "number" || typeof v === "boolean") out[k] = v;
  }
  return out;
}

/** JSON in printable ASCII only (a plain metadata value allows nothing else); JSON.parse restores it. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The error as it is answered and logged: code kept, message and details bounded. */
export function boundedApiError(err: unknown): ApiError {
  const api = toApiError(err);
  return new ApiError(api.code, bounded(api.message, MAX_ERROR_MESSAGE), boundedDetails(api.details), {
    cause: api.cause ?? api,
    retryable: api.retryable,
  });
}

/** The gRPC form of an error, with details carried in trailing metadata as ASCII JSON. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const api = boundedApiError(err);
  const metadata = new Metadata();
  metadata.set(DETAILS_HEADER, asciiJson(api.details));
  return { code: api.code, details: api.message, message: api.message, metadata };
}

/** What a handler answers when even reporting its error failed: still an answer, never a crash. */
export const REPORTING_FAILED: Partial<ServiceError> = {
  code: status.INTERNAL,
  details: "internal error (the error could not be reported)",
  message: "internal error (the error could not be reported)",
};

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
