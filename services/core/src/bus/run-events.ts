// Publishing run events and reading one run's events in order (replay, then live).
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { RunEvent } from "../gen/index.js";
import { decodeEvent, encodeEvent } from "./codec.js";
import { BusInvalidArgumentError } from "./errors.js";
import { toBusError } from "./nats-errors.js";
import { EVENTS_STREAM, eventSubject } from "./subjects.js";

/**
 * Publishes on `events.<runId>`; returns the EVENTS stream sequence. With `msgId`, a second publish of the same
 * event (a retry after a lost ack) is dropped by the stream's duplicate window.
 */
export async function publishEvent(js: JetStreamClient, event: RunEvent, opts: { msgId?: string } = {}): Promise<number> {
  const subject = eventSubject(event.runId);
  try {
    const ack = await js.publish(subject, encodeEvent(event), { expect: { streamName: EVENTS_STREAM }, ...(opts.msgId ? { msgID: opts.msgId } : {}) });
    return ack.seq;
  } catch (err) {
    throw toBusError(err, `publish ${subject}`, { subject });
  }
}

export interface WatchEventsOptions {
  /** First EVENTS stream sequence to deliver (inclusive); default: the run's first event. */
  fromSeq?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

/**
 * Yields the run's stored events from `fromSeq`, then new ones as they arrive, until the signal
 * aborts or the caller stops iterating. An ordered consumer: no acks, gaps are re-fetched by the client.
 */
export async function* watchEvents(
  js: JetStreamClient,
  runId: string,
  opts: WatchEventsOptions = {},
): AsyncGenerator<{ seq: number; event: RunEvent }, void, undefined> {
  const subject = eventSubject(runId);
  const { fromSeq, signal } = opts;
  if (fromSeq !== undefined && !(Number.isInteger(fromSeq) && fromSeq >= 1)) {
    throw new BusInvalidArgumentError(`fromSeq must be an integer >= 1, got ${fromSeq}`, { details: { field: "fromSeq" } });
  }
  if (signal?.aborted) return;
  let messages;
  try {
    const consumer = await js.consumers.get(EVENTS_STREAM, {
      filter_subjects: subject,
      ...(fromSeq === undefined
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq }),
    });
    messages = await consumer.consume();
  } catch (err) {
    throw toBusError(err, `watch ${subject}`, { subject });
  }
  const onAbort = () => void messages.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const m of messages) {
      if (signal?.aborted) break;
      yield { seq: m.seq, event: decodeEvent(m.data, m.subject) };
    }
  } catch (err) {
    throw toBusError(err, `watch ${subject}`, { subject });
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await messages.close();
  }
}
