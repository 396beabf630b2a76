// Pulls stage jobs one at a time from a durable work-queue consumer and settles each by outcome.
import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { StageJob } from "../gen/index.js";
import { decodeJob } from "./codec.js";
import { BusConfigError, BusInvalidArgumentError, BusNotFoundError, BusPermissionError } from "./errors.js";
import { ensureDurableConsumer, filterConfig, validateDurable } from "./durable-consumer.js";
import { toBusError } from "./nats-errors.js";
import {
  ABORTED,
  applySettlement,
  decideSettlement,
  type RetryBackoff,
  sleep,
  startHeartbeat,
  untilAborted,
} from "./settle.js";
import { type JobSubject, JOBS_STREAM, validateJobSubjects } from "./subjects.js";

export interface JobContext {
  /** 1 on the first delivery, 2 on the first redelivery, ... */
  deliveryCount: number;
  /** Aborted when the worker stops: finish or checkpoint, then return (or throw a retryable error). */
  signal: AbortSignal;
}

export type JobHandler = (job: StageJob, ctl: JobContext) => Promise<void>;

export interface JobWorkerOptions {
  /** Durable consumer name, shared by all replicas of one service (e.g. "trainer"). */
  durable: string;
  /** Subjects this consumer owns; on the work queue no other consumer may filter them. */
  subjects: JobSubject[];
  /** Lease on a delivered job before the server redelivers it (default 30 000 ms). */
  ackWaitMs?: number;
  /** Deliveries before a job is given up (default 5). */
  maxDeliver?: number;
  /** Redelivery delay after a retryable failure (default 2 s doubling to 60 s). */
  retryBackoff?: RetryBackoff;
  /** Stops the worker like stop(). */
  signal?: AbortSignal;
  handler: JobHandler;
}

export interface JobWorker {
  /**
   * Resolves when the worker has stopped (after stop(), abort, or the connection closing);
   * rejects with a BusConfigError/BusPermissionError when it cannot consume at all.
   */
  stopped: Promise<void>;
  /** Stops pulling and waits for the running handler to finish. */
  stop(): Promise<void>;
}

export const JOB_WORKER_DEFAULTS = {
  ackWaitMs: 30_000,
  // 2+4+8+16+32+60+60 s: a store or NATS outage of about 3 minutes costs no stage.
  maxDeliver: 8,
  retryBackoff: { initialMs: 2_000, maxMs: 60_000 },
  /** How long one pull request waits on the server for a job. */
  pullExpiresMs: 10_000,
  /** Wait after a failed pull before trying again. */
  errorBackoffMs: 1_000,
} as const;

interface ResolvedJobWorkerOptions {
  durable: string;
  subjects: JobSubject[];
  ackWaitMs: number;
  maxDeliver: number;
  retryBackoff: RetryBackoff;
  heartbeatMs: number;
  handler: JobHandler;
}

export function resolveJobWorkerOptions(opts: JobWorkerOptions): ResolvedJobWorkerOptions {
  validateDurable(opts.durable);
  const subjects = validateJobSubjects(opts.subjects);
  const ackWaitMs = opts.ackWaitMs ?? JOB_WORKER_DEFAULTS.ackWaitMs;
  if (!Number.isFinite(ackWaitMs) || ackWaitMs < 100) {
    throw new BusInvalidArgumentError(`ackWaitMs must be >= 100, got ${ackWaitMs}`, { details: { field: "ackWaitMs" } });
  }
  const maxDeliver = opts.maxDeliver ?? JOB_WORKER_DEFAULTS.maxDeliver;
  if (!Number.isInteger(maxDeliver) || maxDeliver < 1) {
    throw new BusInvalidArgumentError(`maxDeliver must be an integer >= 1, got ${maxDeliver}`, { details: { field: "maxDeliver" } });
  }
  const retryBackoff = opts.retryBackoff ?? JOB_WORKER_DEFAULTS.retryBackoff;
  if (!(retryBackoff.initialMs >= 0 && retryBackoff.maxMs >= retryBackoff.initialMs)) {
    throw new BusInvalidArgumentError(`retryBackoff needs 0 <= initialMs <= maxMs`, { details: { field: "retryBackoff" } });
  }
  // Three heartbeats per lease: one lost or late heartbeat still leaves the job leased.
  const heartbeatMs = Math.max(20, Math.floor(ackWaitMs / 3));
  return { durable: opts.durable, subjects, ackWaitMs, maxDeliver, retryBackoff, heartbeatMs, handler: opts.handler };
}

function consumerConfig(o: ResolvedJobWorkerOptions): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(o.ackWaitMs),
    max_deliver: o.maxDeliver,
    ...filterConfig(o.subjects),
  };
}

export interface JobWorkerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
}

export function startJobWorker(deps: JobWorkerDeps, opts: JobWorkerOptions): JobWorker {
  const o = resolveJobWorkerOptions(opts);
  const log = deps.logger.child({ durable: o.durable, subjects: o.subjects });
  const ac = new AbortController();
  const outer = opts.signal;
  const onOuterAbort = () => ac.abort(outer?.reason);
  if (outer?.aborted) ac.abort(outer.reason);
  else outer?.addEventListener("abort", onOuterAbort, { once: true });

  async function runOne(msg: JsMsg): Promise<void> {
    const deliveryCount = msg.info.deliveryCount;
    const jlog = log.child({ seq: msg.seq, subject: msg.subject, deliveryCount });
    let job: StageJob;
    try {
      job = decodeJob(msg.data, msg.subject);
    } catch (err) {
      // A payload that does not parse never will: drop it loudly.
      jlog.error({ err }, "terminating undecodable job");
      await applySettlement(msg, { kind: "term", reason: "undecodable StageJob payload" }, jlog);
      return;
    }
    const stopHeartbeat = startHeartbeat(msg, o.heartbeatMs, jlog);
    let failed = false;
    let error: unknown;
    try {
      await o.handler(job, { deliveryCount, signal: ac.signal });
    } catch (err) {
      failed = true;
      error = err;
    } finally {
      stopHeartbeat();
    }
    const s = decideSettlement(error, failed, deliveryCount, o.maxDeliver, o.retryBackoff);
    if (s.kind === "nak") jlog.warn({ err: error, jobId: job.jobId, retryInMs: s.delayMs }, "job failed; will be redelivered");
    if (s.kind === "term") jlog.error({ err: error, jobId: job.jobId, reason: s.reason }, "job failed; terminated");
    await applySettlement(msg, s, jlog);
  }

  async function loop(): Promise<void> {
    let consumer: Consumer | undefined;
    while (!ac.signal.aborted) {
      if (deps.nc.isClosed()) {
        log.warn("connection closed; job worker stops");
        return;
      }
      try {
        consumer ??= await ensureDurableConsumer(deps.jsm, deps.js, JOBS_STREAM, consumerConfig(o), log);
        const pending = consumer.next({ expires: JOB_WORKER_DEFAULTS.pullExpiresMs });
        const msg = await untilAborted(pending, ac.signal);
        if (msg === ABORTED) {
          // The pull request may still be served; hand such a job straight back to the queue.
          pending.then((m) => m?.nak(), () => undefined).catch(() => undefined);
          return;
        }
        if (msg) await runOne(msg);
      } catch (err) {
        if (ac.signal.aborted || deps.nc.isClosed()) continue;
        const e = toBusError(err, `pull from ${o.durable}`, { key: o.durable });
        // Misconfiguration (overlapping work-queue consumers, bad names, no permission) will not heal.
        if (e instanceof BusConfigError || e instanceof BusPermissionError || e instanceof BusInvalidArgumentError) throw e;
        // A deleted consumer (or a stream not created yet) is recreated on the next round.
        if (e instanceof BusNotFoundError) consumer = undefined;
        log.warn({ err: e }, "job pull failed; retrying");
        await sleep(JOB_WORKER_DEFAULTS.errorBackoffMs, ac.signal);
      }
    }
  }

  const stopped = loop()
    .catch((err: unknown) => {
      log.error({ err }, "job worker stopped on a fatal error");
      throw err;
    })
    .finally(() => {
      outer?.removeEventListener("abort", onOuterAbort);
      ac.abort();
    });
  return {
    stopped,
    stop() {
      ac.abort();
      return stopped;
    },
  };
}
