// The NATS JetStream bus every service uses: job queue, run events, KV buckets.
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Logger, pino } from "pino";
import type { RunEvent, StageJob } from "../gen/index.js";
import { encodeJob } from "./codec.js";
import { BusInvalidArgumentError } from "./errors.js";
import { type EventConsumer, type EventConsumerOptions, consumeEvents } from "./event-consumer.js";
import { type JobWorker, type JobWorkerOptions, startJobWorker } from "./job-worker.js";
import { toBusError } from "./nats-errors.js";
import { redactUrlCredentials } from "../redact.js";
import { inboxPrefix } from "./permissions.js";
import { type KvCodec, type ProtoKv, openProtoKv } from "./proto-kv.js";
import { publishEvent, type WatchEventsOptions, watchEvents } from "./run-events.js";
import { type EnsureStreamsOptions, ensureStreams } from "./streams.js";
import { ALL_JOB_SUBJECTS, type JobSubject, JOBS_STREAM, validateJobSubjects } from "./subjects.js";

export interface BusConnectOptions {
  /** Comma-separated NATS URLs, e.g. MAMBALIGN_NATS_URL. */
  servers: string;
  /** Connection name shown by the server (service name and pod). */
  name: string;
  /** Default: a pino logger named after the connection. */
  logger?: Logger;
  /** This service's NATS user and password (the server's permissions are per user); none: anonymous. */
  credentials?: { user: string; password: string };
}

/** The client's own text (and its cause's) may quote the URL too: redacted in place. */
function redactedBusError<E extends Error>(err: E): E {
  err.message = redactUrlCredentials(err.message);
  if (err.cause instanceof Error) err.cause.message = redactUrlCredentials(err.cause.message);
  return err;
}

type Stoppable = { stop(): Promise<void> };

export class Bus {
  readonly #stoppables = new Set<Stoppable>();
  /** False between a disconnect and the next reconnect (drain cannot work then). */
  #connected = true;

  private constructor(
    /** The raw connection, for health checks (`nc.isClosed()`, `nc.flush()`). */
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly logger: Logger,
  ) {}

  /** Connects (reconnecting forever after the first success) and checks that JetStream is on. */
  static async connect(opts: BusConnectOptions): Promise<Bus> {
    const logger = (opts.logger ?? pino({ name: opts.name })).child({ component: "bus" });
    const servers = opts.servers.split(",").map((s) => s.trim()).filter(Boolean);
    if (servers.length === 0) {
      throw new BusInvalidArgumentError("servers is empty: give at least one NATS URL", { details: { field: "servers" } });
    }
    // URLs may carry a user:password or a token: errors name the servers without them.
    const shown = redactUrlCredentials(servers.join(","));
    let nc: NatsConnection;
    try {
      const auth = opts.credentials
        ? { user: opts.credentials.user, pass: opts.credentials.password, inboxPrefix: inboxPrefix(opts.credentials.user) }
        : {};
      nc = await connect({ servers, name: opts.name, maxReconnectAttempts: -1, ...auth });
    } catch (err) {
      throw redactedBusError(toBusError(err, `connect to ${shown}`));
    }
    try {
      const jsm = await jetstreamManager(nc);
      const bus = new Bus(nc, jetstream(nc), jsm, logger);
      void bus.#logStatus();
      logger.info({ server: nc.getServer() }, "connected to NATS");
      return bus;
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw redactedBusError(toBusError(err, `JetStream on ${shown}`));
    }
  }

  async #logStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") this.#connected = false;
      if (s.type === "reconnect") this.#connected = true;
      if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error") {
        this.logger.warn({ status: s.type, server: "server" in s ? s.server : undefined }, "NATS connection status");
      }
    }
  }

  /** Creates or updates the JOBS (work queue) and EVENTS (limits) streams. Idempotent. */
  ensureStreams(opts?: EnsureStreamsOptions): Promise<void> {
    return ensureStreams(this.jsm, opts);
  }

  /** Enqueues a job; a job id already published within the duplicate window is dropped (`duplicate`). */
  async publishJob(subject: JobSubject, job: StageJob): Promise<{ seq: number; duplicate: boolean }> {
    validateJobSubjects([subject], "subject");
    if (!job.jobId) {
      throw new BusInvalidArgumentError("job.jobId is empty: it is the dedupe id (Nats-Msg-Id)", { details: { field: "jobId" } });
    }
    try {
      const ack = await this.js.publish(subject, encodeJob(job), { msgID: job.jobId, expect: { streamName: JOBS_STREAM } });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw toBusError(err, `publish ${subject} ${job.jobId}`, { subject, key: job.jobId });
    }
  }

  /**
   * Jobs on the given subjects (default all) that are not finished: waiting plus being worked on,
   * since a work queue keeps a job until it is acked. This is what a replica count should follow.
   */
  async jobQueueDepth(subjects: JobSubject[] = [...ALL_JOB_SUBJECTS]): Promise<number> {
    const wanted = validateJobSubjects(subjects);
    try {
      const info = await this.jsm.streams.info(JOBS_STREAM, { subjects_filter: "jobs.>" });
      const counts = info.state.subjects ?? {};
      return wanted.reduce((n, s) => n + (counts[s] ?? 0), 0);
    } catch (err) {
      throw toBusError(err, `queue depth of ${JOBS_STREAM}`, { key: JOBS_STREAM });
    }
  }

  /**
   * Pulls one job at a time from the durable consumer and runs the handler, heartbeating the lease.
   * Resolve -> ack; throw `retryable: true` -> redelivered after a backoff (until maxDeliver);
   * anything else -> terminated and logged.
   */
  startJobWorker(opts: JobWorkerOptions): JobWorker {
    return this.#track(startJobWorker(this.#deps(), opts));
  }

  /** Publishes on `events.<runId>`; returns the stream sequence (`msgId`: see run-events.ts). */
  publishEvent(event: RunEvent, opts?: { msgId?: string }): Promise<number> {
    return publishEvent(this.js, event, opts);
  }

  /** One run's events from `fromSeq` (inclusive; default all), then live ones, until aborted. */
  watchEvents(runId: string, opts?: WatchEventsOptions): AsyncIterable<{ seq: number; event: RunEvent }> {
    return watchEvents(this.js, runId, opts);
  }

  /** Durable consumer over all runs' events; acks after the handler resolves. */
  consumeEvents(opts: EventConsumerOptions): EventConsumer {
    return this.#track(consumeEvents(this.#deps(), opts));
  }

  /** A typed KV bucket, created when missing. */
  kv<T>(bucket: string, codec: KvCodec<T>): Promise<ProtoKv<T>> {
    return openProtoKv(this.nc, bucket, codec);
  }

  /** Stops workers and consumers (waiting for running handlers), then drains the connection (closes it if draining fails). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#stoppables].map((s) => s.stop()));
    if (this.nc.isClosed()) return;
    if (!this.#connected) {
      this.logger.warn("closing while disconnected from NATS; nothing can be flushed");
      await this.nc.close().catch(() => undefined);
      return;
    }
    try {
      await this.nc.drain();
    } catch (err) {
      // Drain needs the server (e.g. it is down and we are reconnecting): close without flushing.
      this.logger.warn({ err }, "NATS drain failed; closing the connection");
      await this.nc.close().catch(() => undefined);
    }
  }

  #deps() {
    return { nc: this.nc, js: this.js, jsm: this.jsm, logger: this.logger };
  }

  #track<W extends Stoppable & { stopped: Promise<void> }>(w: W): W {
    this.#stoppables.add(w);
    w.stopped.then(
      () => this.#stoppables.delete(w),
      () => this.#stoppables.delete(w),
    );
    return w;
  }
}
