// RunHistory over the filesystem object store: per-job files, idempotent, ordered, gathered when the job ends.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FsObjectStore, type RunEvent, Stage, StageStatus } from "@mambalign/core";
import { RunHistory } from "./run-history.js";

const RUN = "r-20261203-101010-abcdef";
const at = new Date("2026-12-03T10:10:10Z");
const transition = (jobId: string, stage: Stage, status: StageStatus): RunEvent => ({
  runId: RUN, stage, jobId, time: at, kind: { $case: "transition", value: { status, message: "", output: "", metrics: {}, outputVersion: undefined } },
});
const log = (jobId: string, message: string): RunEvent => ({
  runId: RUN, stage: Stage.STAGE_SFT, jobId, time: at, kind: { $case: "log", value: { level: "info", message } },
});

test("run history — written per event, gathered per job when it ends, read back in stream order after any redelivery", async () => {
  const root = await mkdtemp(join(tmpdir(), "run-history-"));
  const store = new FsObjectStore({ root });
  const history = new RunHistory(store);
  try {
    const sft = `${RUN}.sft.1`;
    await history.record(3, transition(sft, Stage.STAGE_SFT, StageStatus.STAGE_STATUS_RUNNING));
    await history.record(5, log(sft, "step 1"));
    await history.record(5, log(sft, "step 1")); // redelivered
    const keysMid: string[] = [];
    for await (const o of store.list(`runs/${RUN}/events/`)) keysMid.push(o.key);
    assert.equal(keysMid.length, 2, "one object per event, the redelivery rewrote the same one");
    await history.record(4, log(sft, "step 0")); // out of order
    await history.record(9, transition(sft, Stage.STAGE_SFT, StageStatus.STAGE_STATUS_SUCCEEDED));
    await history.record(10, { runId: RUN, stage: Stage.STAGE_UNSPECIFIED, jobId: "", time: at, kind: { $case: "transition", value: { status: StageStatus.STAGE_STATUS_SUCCEEDED, message: "done", output: "", metrics: {}, outputVersion: undefined } } });
    const keys: string[] = [];
    for await (const o of store.list(`runs/${RUN}/events/`)) keys.push(o.key);
    assert.deepEqual(keys.sort(), [`runs/${RUN}/events/run.jsonl`, `runs/${RUN}/events/sft.1.jsonl`]);
    const got = await history.read(RUN);
    assert.deepEqual(got.map((e) => e.seq), [3, 4, 5, 9, 10]);
    assert.deepEqual(got[1]!.event.kind, { $case: "log", value: { level: "info", message: "step 0" } });
    assert.deepEqual(await history.read("r-other-run"), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
