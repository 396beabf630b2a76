// Public face of the bus: JetStream job queue, run events and typed KV buckets.
export { Bus, type BusConnectOptions } from "./bus.js";
export {
  BusConfigError,
  BusError,
  type BusErrorDetails,
  BusInvalidArgumentError,
  BusNotFoundError,
  BusPermissionError,
  BusUnavailableError,
  KvConflictError,
} from "./errors.js";
export { EVENT_CONSUMER_DEFAULTS, type EventConsumer, type EventConsumerOptions, type EventHandler } from "./event-consumer.js";
export { JOB_WORKER_DEFAULTS, type JobContext, type JobHandler, type JobWorker, type JobWorkerOptions } from "./job-worker.js";
export {
  BUS_USERS,
  type BusCredential,
  type BusUser,
  busPermissions,
  generateBusCredentials,
  inboxPrefix,
  natsAuthorizationConfig,
  type SubjectPermissions,
} from "./permissions.js";
export { toBusError } from "./nats-errors.js";
export { KV_DEFAULTS, type KvCodec, type ProtoKv, validateKvKey } from "./proto-kv.js";
export type { WatchEventsOptions } from "./run-events.js";
export { type RetryBackoff, retryWindowMs, sleep, willRetry } from "./settle.js";
export { type EnsureStreamsOptions, STREAM_DEFAULTS } from "./streams.js";
export {
  ALL_JOB_SUBJECTS,
  EVENTS_STREAM,
  eventSubject,
  JOB_SUBJECTS,
  type JobSubject,
  JOBS_STREAM,
  validateRunId,
} from "./subjects.js";
