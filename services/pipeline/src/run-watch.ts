// WatchRun: a run's events from the start (or from_seq), with a Run snapshot on each transition,
// ending after the run's end event. A finished run whose history in the store is complete (it holds
// the end event) is replayed from there, so it outlives the stream. Otherwise the stream: if the end
// event is missing (expired by the stream's limits), the run's terminal state in KV ends the stream
// after a short grace period instead.
import { setTimeout as sleep } from "node:timers/promises";
import { type Bus, type Run, type RunEvent, type WatchRunResponse } from "@mambalign/core";
import type { RunHistory } from "./run-history.js";
import { isRunEndEvent, isTerminal, runLevelEvent } from "./run-machine.js";
import type { RunStore } from "./run-store.js";

export const WATCH_END_GRACE_MS = 3_000;

export async function* watchRun(
  bus: Bus,
  runs: RunStore,
  history: RunHistory,
  runId: string,
  fromSeq: number | undefined,
  signal: AbortSignal,
): AsyncGenerator<WatchRunResponse> {
  const finished = (await runs.get(runId))?.value;
  if (finished && isTerminal(finished.status)) {
    const kept = await history.read(runId);
    if (kept.some((e) => isRunEndEvent(e.event))) {
      for (const { seq, event } of kept) {
        if (fromSeq !== undefined && seq < fromSeq) continue;
        yield { seq: BigInt(seq), event, run: event.kind?.$case === "transition" ? finished : undefined };
      }
      return;
    }
  }
  const events = new AbortController();
  const stopEvents = () => events.abort();
  signal.addEventListener("abort", stopEvents, { once: true });
  let endedByKv: Run | undefined;
  const kvWatch = (async () => {
    for await (const e of runs.watch(runId, events.signal)) {
      if (e && isTerminal(e.status)) {
        await sleep(WATCH_END_GRACE_MS, undefined, { signal: events.signal });
        endedByKv = e;
        events.abort();
        return;
      }
    }
  })().catch(() => undefined);
  try {
    for await (const { seq, event } of bus.watchEvents(runId, { ...(fromSeq ? { fromSeq } : {}), signal: events.signal })) {
      const run = event.kind?.$case === "transition" ? ((await runs.get(runId))?.value ?? undefined) : undefined;
      yield { seq: BigInt(seq), event, run };
      if (isRunEndEvent(event)) return;
    }
    if (endedByKv && !signal.aborted) {
      const end: RunEvent = runLevelEvent(endedByKv, endedByKv.updatedAt ?? new Date(), "");
      yield { seq: 0n, event: end, run: endedByKv };
    }
  } finally {
    signal.removeEventListener("abort", stopEvents);
    events.abort();
    await kvWatch;
  }
}
