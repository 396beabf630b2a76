// How a consumed message is settled after its handler ran, and the heartbeat that keeps it leased.
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { isRetryable } from "../errors.js";

export interface RetryBackoff {
  /** Delay before the first redelivery after a retryable failure (ms). */
  initialMs: number;
  /** Cap of the doubling delay (ms). */
  maxMs: number;
}

/** initialMs, 2x, 4x, ... capped at maxMs; deliveryCount starts at 1. */
export function backoffDelay(deliveryCount: number, b: RetryBackoff): number {
  const n = Math.max(0, Math.min(deliveryCount - 1, 30));
  return Math.min(b.maxMs, b.initialMs * 2 ** n);
}

/**
 * How long a job keeps being retried after its first retryable failure: the sum of the backoff
 * delays before each redelivery. A store or NATS outage shorter than this costs no stage.
 */
export function retryWindowMs(maxDeliver: number, b: RetryBackoff): number {
  let total = 0;
  for (let delivery = 1; delivery < maxDeliver; delivery++) total += backoffDelay(delivery, b);
  return total;
}

/** The one retry decision: a failure on this delivery comes back when a retry can help and deliveries are left. */
export function willRetry(err: unknown, deliveryCount: number, maxDeliver: number): boolean {
  return isRetryable(err) && deliveryCount < maxDeliver;
}

export type Settlement = { kind: "ack" } | { kind: "nak"; delayMs: number } | { kind: "term"; reason: string };

/**
 * Decides from the handler's outcome: success acks; a retryable error naks with a growing delay;
 * a retryable error on the last allowed delivery, or any other error, terminates so the message
 * leaves the work queue instead of lingering undeliverable.
 */
export function decideSettlement(
  err: unknown | undefined,
  failed: boolean,
  deliveryCount: number,
  maxDeliver: number,
  backoff: RetryBackoff,
): Settlement {
  if (!failed) return { kind: "ack" };
  if (willRetry(err, deliveryCount, maxDeliver)) return { kind: "nak", delayMs: backoffDelay(deliveryCount, backoff) };
  if (isRetryable(err)) return { kind: "term", reason: `retryable failure on delivery ${deliveryCount} of max ${maxDeliver}` };
  const name = err instanceof Error ? err.name : "non-Error";
  return { kind: "term", reason: `non-retryable ${name}` };
}

/**
 * Applies a settlement. Acks are confirmed by the server (ackAck) so that once this resolves the
 * message will not come back; nak/term are fire-and-forget like the client makes them.
 */
export async function applySettlement(msg: JsMsg, s: Settlement, log: Logger): Promise<void> {
  try {
    switch (s.kind) {
      case "ack":
        if (!(await msg.ackAck())) log.warn({ seq: msg.seq }, "ack was not confirmed; the message may be redelivered");
        return;
      case "nak":
        msg.nak(s.delayMs);
        return;
      case "term":
        msg.term(s.reason);
        return;
    }
  } catch (err) {
    // Connection gone: the server redelivers after ack_wait, which handlers must tolerate anyway.
    log.warn({ err, seq: msg.seq, settlement: s.kind }, "could not settle message");
  }
}

/** Calls msg.working() every intervalMs until the returned function is called. */
export function startHeartbeat(msg: JsMsg, intervalMs: number, log: Logger): () => void {
  const timer = setInterval(() => {
    try {
      msg.working();
    } catch (err) {
      log.warn({ err, seq: msg.seq }, "heartbeat (working) failed");
    }
  }, intervalMs);
  return () => clearInterval(timer);
}

export const ABORTED: unique symbol = Symbol("aborted");

/** Resolves with the promise's value, or with ABORTED as soon as the signal fires. */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
/** Sleeps ms unless the signal fires first (used for backoff after pull errors). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
