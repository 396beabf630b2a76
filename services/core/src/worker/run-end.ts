// A run's end, as its workers learn it: the pipeline publishes a run-level transition (stage
// UNSPECIFIED) on events.<run_id> when the run succeeds, fails or is cancelled. Workers follow that
// contract instead of reading the pipeline's records.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Bus } from "../bus/bus.js";
import { EVENTS_STREAM, eventSubject } from "../bus/subjects.js";
import { toBusError } from "../bus/nats-errors.js";
import { type RunEvent, Stage, StageStatus } from "../gen/index.js";

/** Whether the event is the run's end (a run-level transition). */
export function isRunEndEvent(ev: RunEvent): boolean {
  return ev.stage === Stage.STAGE_UNSPECIFIED && ev.kind?.$case === "transition" && ev.kind.value.status !== StageStatus.STAGE_STATUS_UNSPECIFIED;
}

export interface RunEndWatch {
  /** After the events stored when the watch began: the end event if the run had already ended. */
  past: Promise<RunEvent | undefined>;
  /** Resolves when the end event arrives (or was there already); never, if the run goes on. */
  ended: Promise<RunEvent>;
}

/** Follows the run's events until its end or until `signal` aborts. */
export function watchRunEnd(bus: Bus, runId: string, signal: AbortSignal, log: Logger): RunEndWatch {
  let settlePast!: (ev: RunEvent | undefined) => void;
  let failPast!: (err: unknown) => void;
  let settleEnded!: (ev: RunEvent) => void;
  const past = new Promise<RunEvent | undefined>((res, rej) => ((settlePast = res), (failPast = rej)));
  const ended = new Promise<RunEvent>((res) => (settleEnded = res));
  void (async () => {
    try {
      const subject = eventSubject(runId);
      const last = await bus.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject }).catch((err: unknown) => {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return null;
        throw toBusError(err, `last event of ${subject}`, { subject });
      });
      const lastSeq = last?.seq ?? 0;
      if (lastSeq === 0) settlePast(undefined);
      for await (const { seq, event } of bus.watchEvents(runId, { signal })) {
        if (isRunEndEvent(event)) {
          settlePast(event);
          settleEnded(event);
          return;
        }
        if (seq >= lastSeq) settlePast(undefined);
      }
    } catch (err) {
      if (signal.aborted) return;
      log.warn({ err, runId }, "watching the run for its end failed");
      failPast(err);
    }
  })();
  return { past, ended };
}
