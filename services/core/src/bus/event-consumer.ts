// A durable consumer over every run's events (events.>), acking each after its handler succeeds.
import { AckPolicy, type ConsumerConfig, DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { RunEvent } from "../gen/index.js";
import { decodeEvent } from "./codec.js";
import { ensureDurableConsumer, validateDurable } from "./durable-consumer.js";
import { BusConfigError, BusInvalidArgumentError, BusNotFoundError, BusPermissionError } from "./errors.js";
import { toBusError } from "./nats-errors.js";
import { applySettlement, decideSettlement, type RetryBackoff, sleep, startHeartbeat } from "./settle.js";
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX } from "./subjects.js";

export type EventHandler = (seq: number, event: RunEvent) => Promise<void>;

export interface EventConsumerOptions {
  /** Durable consumer name (e.g. "pipeline"); replicas sharing it split the events. */
  durable: string;
  signal?: AbortSignal;
  /** Resolve to ack; throw a `retryable` error to have the event redelivered, anything else drops it (logged). */
  handler: EventHandler;
  /** Lease per event (default 30 000 ms; heartbeats extend it while the handler runs). */
  ackWaitMs?: number;
  /** Deliveries before an event is given up (default 10). */
  maxDeliver?: number;
  /** Redelivery delay after a retryable failure (default 500 ms doubling to 30 s). */
  retryBackoff?: RetryBackoff;
}

export interface EventConsumer {
  /** Resolves once stopped; rejects with a BusConfigError/BusPermissionError when it cannot consume at all. */
  stopped: Promise<void>;
  /** Stops consuming and waits for the running handler. */
  stop(): Promise<void>;
}

export const EVENT_CONSUMER_DEFAULTS = {
  ackWaitMs: 30_000,
  maxDeliver: 10,
  retryBackoff: { initialMs: 500, maxMs: 30_000 },
  /** Events buffered per pull; small, since each waits for the handlers before it. */
  batch: 16,
  errorBackoffMs: 1_000,
} as const;

export interface EventConsumerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
}

export function consumeEvents(deps: EventConsumerDeps, opts: EventConsumerOptions): EventConsumer {
  const durable = validateDurable(opts.durable);
  const ackWaitMs = opts.ackWaitMs ?? EVENT_CONSUMER_DEFAULTS.ackWaitMs;
  const maxDeliver = opts.maxDeliver ?? EVENT_CONSUMER_DEFAULTS.maxDeliver;
  const retryBackoff = opts.retryBackoff ?? EVENT_CONSUMER_DEFAULTS.retryBackoff;
  if (!(ackWaitMs >= 100)) {
    throw new BusInvalidArgumentError(`ackWaitMs must be >= 100, got ${ackWaitMs}`, { details: { field: "ackWaitMs" } });
  }
  if (!(Number.isInteger(maxDeliver) && maxDeliver >= 1)) {
    throw new BusInvalidArgumentError(`maxDeliver must be an integer >= 1, got ${maxDeliver}`, { details: { field: "maxDeliver" } });
  }
  const cfg: Partial<ConsumerConfig> & { durable_name: string } = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_deliver: maxDeliver,
    filter_subject: `${EVENTS_SUBJECT_PREFIX}>`,
  };
  const heartbeatMs = Math.max(20, Math.floor(ackWaitMs / 3));
  const log = deps.logger.child({ durable, stream: EVENTS_STREAM });
  const ac = new AbortController();
  const outer = opts.signal;
  const onOuterAbort = () => ac.abort(outer?.reason);
  if (outer?.aborted) ac.abort(outer.reason);
  else outer?.addEventListener("abort", onOuterAbort, { once: true });

  async function loop(): Promise<void> {
    while (!ac.signal.aborted && !deps.nc.isClosed()) {
      try {
        const consumer = await ensureDurableConsumer(deps.jsm, deps.js, EVENTS_STREAM, cfg, log);
        const messages = await consumer.consume({ max_messages: EVENT_CONSUMER_DEFAULTS.batch });
        const onAbort = () => void messages.close();
        ac.signal.addEventListener("abort", onAbort, { once: true });
        try {
          for await (const m of messages) {
            if (ac.signal.aborted) {
              m.nak(); // buffered but not started: back to the stream at once
              continue;
            }
            const mlog = log.child({ seq: m.seq, subject: m.subject, deliveryCount: m.info.deliveryCount });
            let event: RunEvent;
            try {
              event = decodeEvent(m.data, m.subject);
            } catch (err) {
              mlog.error({ err }, "terminating undecodable event");
              await applySettlement(m, { kind: "term", reason: "undecodable RunEvent payload" }, mlog);
              continue;
            }
            const stopHeartbeat = startHeartbeat(m, heartbeatMs, mlog);
            let failed = false;
            let error: unknown;
            try {
              await opts.handler(m.seq, event);
            } catch (err) {
              failed = true;
              error = err;
            } finally {
              stopHeartbeat();
            }
            const s = decideSettlement(error, failed, m.info.deliveryCount, maxDeliver, retryBackoff);
            if (s.kind === "nak") mlog.warn({ err: error, retryInMs: s.delayMs }, "event handler failed; will be redelivered");
            if (s.kind === "term") mlog.error({ err: error, reason: s.reason }, "event handler failed; event dropped");
            await applySettlement(m, s, mlog);
          }
        } finally {
          ac.signal.removeEventListener("abort", onAbort);
          await messages.close();
        }
      } catch (err) {
        if (ac.signal.aborted || deps.nc.isClosed()) break;
        const e = toBusError(err, `consume ${durable} on ${EVENTS_STREAM}`, { key: durable });
        if (e instanceof BusConfigError || e instanceof BusPermissionError || e instanceof BusInvalidArgumentError) throw e;
        log.warn({ err: e, notFound: e instanceof BusNotFoundError }, "event consumption failed; retrying");
      }
      // consume() ended without an abort (consumer deleted, connection trouble): start over shortly.
      if (!ac.signal.aborted) await sleep(EVENT_CONSUMER_DEFAULTS.errorBackoffMs, ac.signal);
    }
  }

  const stopped = loop()
    .catch((err: unknown) => {
      log.error({ err }, "event consumer stopped on a fatal error");
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
