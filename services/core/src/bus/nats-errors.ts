// Maps failures from the @nats-io clients onto the bus's error classes.
import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { errors as natsErrors } from "@nats-io/transport-node";
import {
  BusConfigError,
  BusError,
  type BusErrorDetails,
  BusInvalidArgumentError,
  BusNotFoundError,
  BusPermissionError,
  BusUnavailableError,
  KvConflictError,
} from "./errors.js";

/** JetStream API error codes we react to (nats-server's errors.json). */
const Codes = {
  ...JetStreamApiCodes,
  StreamNameInUse: 10058,
  ConsumerAlreadyExists: 10148,
  WorkQueueMultipleUnfiltered: 10099,
  WorkQueueConsumerNotUnique: 10100,
  ExpectedStreamMismatch: 10060,
} as const;
export { Codes as JetStreamCodes };

/** `JetStreamNotEnabled` (a plain Error subclass) is only exported from @nats-io/jetstream/internal; its name is stable. */
function isJetStreamNotEnabled(err: Error): boolean {
  return err.name === "JetStreamNotEnabled";
}

function isPermissionError(err: unknown): boolean {
  return (
    err instanceof natsErrors.AuthorizationError ||
    err instanceof natsErrors.PermissionViolationError ||
    err instanceof natsErrors.UserAuthenticationExpiredError
  );
}

/**
 * Turns anything a NATS call threw into a BusError. `what` names the operation for the
 * message ("publish jobs.train"); `details` names the key/subject/field at fault.
 */
export function toBusError(err: unknown, what: string, details: BusErrorDetails = {}): BusError {
  if (err instanceof BusError) return err;
  const cause = err;
  const msg = (reason: string) => `${what}: ${reason}`;
  const text = err instanceof Error ? err.message : String(err);
  const opts = { cause, details };

  if (err instanceof JetStreamApiError) {
    switch (err.code) {
      // Expected-last-sequence mismatch is how KV create/update (CAS) lose a race.
      case Codes.StreamWrongLastSequence:
      case Codes.StreamWrongLastSequenceUnknown:
        return new KvConflictError(msg("the key exists or changed since it was read"), opts);
      // Missing resources do not appear by retrying: someone must create them.
      case Codes.StreamNotFound:
      case Codes.ConsumerNotFound:
        return new BusNotFoundError(msg(text), opts);
      // Conflicting configuration is a deployment mistake; a retry repeats it.
      case Codes.StreamNameInUse:
      case Codes.ConsumerAlreadyExists:
      case Codes.WorkQueueMultipleUnfiltered:
      case Codes.WorkQueueConsumerNotUnique:
      case Codes.ExpectedStreamMismatch:
        return new BusConfigError(msg(text), opts);
      case Codes.JetStreamNotEnabledForAccount:
        return new BusConfigError(msg("JetStream is not enabled for this account"), opts);
    }
    // 5xx: the server could not serve now (leader election, storage pressure) and may later.
    if (err.status >= 500) return new BusUnavailableError(msg(text), opts);
    // Other 4xx: the request itself was refused.
    return new BusInvalidArgumentError(msg(text), opts);
  }
  // Credentials and subject permissions: need an operator, not a retry. A refused request arrives
  // as a RequestError whose cause is the server's permissions violation, so this comes first.
  if (isPermissionError(err) || (err instanceof Error && isPermissionError(err.cause))) {
    return new BusPermissionError(msg(text), opts);
  }
  // No responders on a JetStream subject: JetStream or a stream for the subject is absent. During
  // a server restart that is transient, so retrying helps; a permanent absence exhausts the retries.
  if (err instanceof Error && isJetStreamNotEnabled(err)) {
    return new BusUnavailableError(msg("no JetStream stream answered (is JetStream on and ensureStreams run?)"), opts);
  }
  // Connection-level trouble: the client reconnects on its own, so a later attempt can succeed.
  if (
    err instanceof natsErrors.ConnectionError ||
    err instanceof natsErrors.ClosedConnectionError ||
    err instanceof natsErrors.DrainingConnectionError ||
    err instanceof natsErrors.TimeoutError ||
    err instanceof natsErrors.NoRespondersError ||
    err instanceof natsErrors.RequestError ||
    err instanceof JetStreamError // status errors such as missed heartbeats during a pull
  ) {
    return new BusUnavailableError(msg(text), opts);
  }
  // Bad names, subjects and arguments are caller bugs.
  if (
    err instanceof natsErrors.InvalidSubjectError ||
    err instanceof natsErrors.InvalidArgumentError ||
    err instanceof natsErrors.InvalidOperationError
  ) {
    return new BusInvalidArgumentError(msg(text), opts);
  }
  // Unknown failures are not retried: looping on a bug hides it.
  return new BusError(msg(text), opts);
}
