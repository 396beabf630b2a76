// WatchRun: a run's events from the start (or from_seq), with a Run snapshot on each transition
// that shows it (a worker's transition reaches this watcher and the pipeline's consumer at once, so
// the snapshot waits for the pipeline's write), ending after the run's end event. A finished run
// whose history in the store is complete (it holds the end event) is replayed from there, so it
// outlives the stream. Otherwise the stream: if the end event is missing (expired by the stream's
// limits), the run's terminal state in KV ends the stream after a short grace period instead.
import { setTimeout as sleep } from "node:timers/promises";
import { type Bus, type Run, type RunEvent, type WatchRunResponse } from "@mambalign/core";
import type { RunHistory } from "./run-history.js";
import { isRunEndEvent, isStageDone, isTerminal, runLevelEvent } from "./run-machine.js";
import type { RunStore } from "./run-store.js";

export const WATCH_END_GRACE_MS = 3_000;
/** How long a snapshot waits for the pipeline to apply a worker's transition (one it ignores changes nothing). */
export const SNAPSHOT_WAIT_MS = 2_000;

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
      const run = event.kind?.$case === "transition" ? await snapshotShowing(runs, runId, event, events.signal) : undefined;
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

/**
 * The stored run once it shows `event`: the pipeline's own transitions are written before they are
 * published, but a worker's is applied by the pipeline's consumer while this watcher reads it too,
 * and a snapshot sent before that write would show the stage as it was until the next transition
 * (a training stage: "queued" for hours). Waits for the next write, at most SNAPSHOT_WAIT_MS (an
 * event the run ignores is never written: the run as read then).
 */
async function snapshotShowing(runs: RunStore, runId: string, event: RunEvent, signal: AbortSignal): Promise<Run | undefined> {
  const stored = (await runs.get(runId))?.value;
  if (!stored || shows(stored, event)) return stored;
  const written = (run: Run) => shows(run, event) || (run.updatedAt?.getTime() ?? 0) > (stored.updatedAt?.getTime() ?? 0);
  return (await runs.waitFor(runId, SNAPSHOT_WAIT_MS, written, signal)) ?? stored;
}

/** Whether `run` shows a transition event: its stage (or baseline evaluation) has that status or is done. */
function shows(run: Run, event: RunEvent): boolean {
  if (event.kind?.$case !== "transition" || isTerminal(run.status)) return true;
  const entry = run.stages.find((s) => s.jobId === event.jobId) ?? run.baselines.find((b) => b.jobId === event.jobId);
  return !entry || entry.status === event.kind.value.status || isStageDone(entry.status);
}
