// WatchRun against a real nats-server: the Run snapshot sent with a worker's transition shows it, although the
// pipeline's consumer writes it to the runs bucket only after the event is on the stream.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Bus, FsObjectStore, Run, RunEvent, RunStatus, Stage, StageStatus, type WatchRunResponse } from "@mambalign/core";
import { startNatsServer, waitUntil } from "@mambalign/core/testing";
import { pino } from "pino";
import { RunHistory } from "./run-history.js";
import { applyEvent } from "./run-machine.js";
import { RunStore } from "./run-store.js";
import { watchRun } from "./run-watch.js";

const RUN = "r-20261204-060000-abcdef";
const JOB = `${RUN}.sft.1`;

test("run watch — the snapshot sent with a worker's transition shows it, though the pipeline stores it later", async () => {
  const srv = await startNatsServer();
  const bus = await Bus.connect({ servers: srv.url, name: "test", logger: pino({ level: "silent" }) });
  const root = await mkdtemp(join(tmpdir(), "run-watch-"));
  const ac = new AbortController();
  let watching: Promise<void> | undefined;
  try {
    await bus.ensureStreams();
    const store = await RunStore.open(bus);
    const queued = Run.fromPartial({
      id: RUN, status: RunStatus.RUN_STATUS_RUNNING, updatedAt: new Date("2026-12-04T06:00:00Z"),
      stages: [{ stage: Stage.STAGE_SFT, status: StageStatus.STAGE_STATUS_PENDING, attempt: 1, jobId: JOB, message: "queued" }],
    });
    await store.create(queued);
    // The watcher's reads of the stored run are counted, so the test writes only after the watcher has read.
    let reads = 0;
    const runs: RunStore = Object.assign(Object.create(store), { get: (id: string) => (reads++, store.get(id)) });
    const got: WatchRunResponse[] = [];
    watching = (async () => {
      for await (const r of watchRun(bus, runs, new RunHistory(new FsObjectStore({ root })), RUN, undefined, ac.signal)) got.push(r);
    })();
    await waitUntil("the watcher's first read", () => reads === 1);

    // The worker starts the stage: its transition is on the stream before the pipeline has applied it.
    const running = RunEvent.fromPartial({
      runId: RUN, stage: Stage.STAGE_SFT, jobId: JOB, time: new Date("2026-12-04T06:00:01Z"),
      kind: { $case: "transition", value: { status: StageStatus.STAGE_STATUS_RUNNING, message: "training" } },
    });
    await bus.publishEvent(running);
    await waitUntil("the watcher reading the run for the transition", () => reads === 2);
    const current = (await store.get(RUN))!;
    await store.update(RUN, (run) => {
      const step = applyEvent(run, running, new Date("2026-12-04T06:00:02Z"));
      return step.changed ? step : null;
    }, async () => {});
    assert.notEqual((await store.get(RUN))!.revision, current.revision, "the pipeline's write");

    await waitUntil("the transition's response", () => got.length === 1);
    assert.equal(got[0]!.event?.kind?.$case, "transition");
    assert.equal(got[0]!.run?.stages[0]?.status, StageStatus.STAGE_STATUS_RUNNING, "the snapshot shows the stage running");
  } finally {
    ac.abort();
    await watching?.catch(() => undefined);
    await bus.close();
    await srv.stop();
    await rm(root, { recursive: true, force: true });
  }
});
