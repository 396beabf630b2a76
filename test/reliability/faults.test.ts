// reliability — the fault suite (issue 12): a tiny-model SFT run on real NATS, MinIO (or the fs store), the real
// trainer process and the real Python runtime, with one fault each: the runtime SIGKILLed, the trainer service
// SIGKILLed and restarted, nats-server restarted, MinIO stopped for 60 s during a checkpoint upload, the fs store
// read-only for 30 s. Each run must complete, redo at most one checkpoint interval of steps, and never read a
// half-written checkpoint as complete. Each scenario prints one RELIABILITY line; the suite prints and writes the table
// (docs/reliability.md; `bash scripts/reliability.sh`).
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ApiError, downloadVerified, readManifest, type RunEvent, StageStatus } from "@mambalign/core";
import { makeUnwritable, processGone } from "@mambalign/core/testing";
import {
  addSftDataset,
  eventsUntil,
  type Harness,
  killGroup,
  logs,
  publishTrain,
  sftArgs,
  sftJob,
  spawnTrainer,
  startHarness,
  type TrainerChild,
  versionsOfRun,
  whileRunning,
} from "@mambalign/trainer/testing";
import { deliveries, faultTable, type FaultFigures, figureLine, isFailedUpload, isProgress, isUpload, recoveryMs, stepsLost, writeTable } from "./fault-figures.js";

type Dataset = Awaited<ReturnType<typeof addSftDataset>>;

const TOTAL = 40;
const INTERVAL = 4;
const MINIO_OUTAGE_MS = 60_000;
const FS_OUTAGE_MS = 30_000;

const rows: FaultFigures[] = [];
const trainers: TrainerChild[] = [];

const succeeded = (e: RunEvent) => e.kind?.$case === "transition" && e.kind.value.status === StageStatus.STAGE_STATUS_SUCCEEDED;
const progressAt = (step: number) => (e: RunEvent) => e.kind?.$case === "runtime" && e.kind.value.kind?.$case === "progress" && e.kind.value.kind.value.step >= step;
const uploadedStep = (e: RunEvent) => {
  const m = e.kind?.$case === "log" ? /^checkpoint step (\d+) uploaded/.exec(e.kind.value.message) : null;
  return m ? Number(m[1]) : undefined;
};
/** The length of an outage: the scenario itself, not a wait for something to happen. */
const outageOf = (ms: number) => new Promise((r) => setTimeout(r, ms));

function trainer(h: Harness, name: string): TrainerChild {
  const t = spawnTrainer(h, { HOSTNAME: name });
  trainers.push(t);
  return t;
}

/** The pid of the trainer's runtime (its Python child), from /proc. */
async function runtimePid(t: TrainerChild): Promise<number> {
  const children = (await readFile(`/proc/${t.child.pid}/task/${t.child.pid}/children`, "utf8")).trim().split(/\s+/).filter(Boolean).map(Number);
  for (const pid of children) {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    if (cmd.includes("mambalign_runtime")) return pid;
  }
  throw new Error(`trainer ${t.child.pid} has no runtime child (children: ${children.join(", ") || "none"})`);
}

/** A half-written checkpoint past every real one: files, no manifest (an upload cut off by the fault). */
async function plantHalfWritten(h: Harness, runId: string): Promise<void> {
  const prefix = `checkpoints/${runId}/sft/${TOTAL + 100}`;
  await h.deps.store.put(`${prefix}/trainer_state.json`, JSON.stringify({ step: TOTAL + 100 }));
  await h.deps.store.put(`${prefix}/adapter/adapter_model.safetensors`, "not a checkpoint");
}

/** `fn` again while it fails with a retryable bus error: the test's own NATS connection is reconnecting. */
async function retryWhileReconnecting<T>(fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !(err instanceof ApiError && err.retryable)) throw err;
    }
  }
}

/**
 * Mid-interval, live: a step published after `since` (the replay of older events never triggers a kill), in the first
 * half of an interval past the newest uploaded checkpoint, the next one not saved yet (no upload in flight). A kill
 * then costs the steps since an uploaded checkpoint, fewer than one interval, with half an interval of slack for
 * the kill to land.
 */
function midInterval(since: number): (e: RunEvent, all: RunEvent[]) => boolean {
  return (e, all) => {
    if (e.kind?.$case !== "runtime" || e.kind.value.kind?.$case !== "progress" || (e.time?.getTime() ?? 0) < since) return false;
    const uploaded = Math.max(-1, ...all.map(uploadedStep).filter((s): s is number => s !== undefined));
    const saved = Math.max(-1, ...all.flatMap((x) => (x.kind?.$case === "runtime" && x.kind.value.kind?.$case === "checkpointSaved" ? [x.kind.value.kind.value.step] : [])));
    const step = e.kind.value.kind.value.step;
    return uploaded >= INTERVAL && saved === uploaded && step > uploaded && step <= uploaded + INTERVAL / 2;
  };
}

/** Publishes the run's SFT job; resolves with the step of the first checkpoint `t` uploads. */
async function startRun(h: Harness, dataset: Dataset, runId: string, t: TrainerChild): Promise<number> {
  await publishTrain(h, sftJob(runId, dataset, sftArgs({ maxSteps: TOTAL, saveSteps: INTERVAL })));
  const seen = await whileRunning(t, eventsUntil(h, runId, (e) => uploadedStep(e) !== undefined));
  return uploadedStep(seen.at(-1)!)!;
}

/**
 * The run's end: it succeeded, one registered version, every checkpoint prefix that has a manifest verifies (the
 * manifest is written last, so a prefix with one is whole), each resume came from such a checkpoint; the figures.
 */
async function finish(h: Harness, runId: string, scenario: string, faultEnd: number, moving: (e: RunEvent) => boolean, t: TrainerChild): Promise<FaultFigures> {
  const events = await whileRunning(t, retryWhileReconnecting(() => eventsUntil(h, runId, succeeded, 300_000)));
  assert.equal((await versionsOfRun(h, runId)).length, 1, "one registered version");
  const verifyDir = await mkdtemp(path.join(tmpdir(), "mambalign-verify-"));
  const complete: number[] = [];
  let halfWritten = 0;
  try {
    const prefixes = new Set<string>();
    for await (const o of h.deps.store.list(`checkpoints/${runId}/`)) prefixes.add(o.key.split("/").slice(0, 4).join("/"));
    for (const prefix of prefixes) {
      if (!(await readManifest(h.deps.store, prefix))) {
        halfWritten++;
        continue;
      }
      await downloadVerified(h.deps.store, prefix, path.join(verifyDir, prefix)); // throws on a missing or wrong file
      const step = Number(prefix.split("/")[3]);
      if (Number.isInteger(step)) complete.push(step);
    }
  } finally {
    await rm(verifyDir, { recursive: true, force: true });
  }
  const d = deliveries(events);
  for (const resumed of d.slice(1).map((x) => x.start).filter((s) => s > 0)) {
    assert.ok(complete.includes(resumed), `resumed from step ${resumed}, which has a complete checkpoint (${complete.join(", ")})`);
  }
  for (const m of logs(events).filter((l) => l.startsWith("resuming from checkpoint step "))) {
    assert.ok(complete.includes(Number(/step (\d+)/.exec(m)![1])), m);
  }
  assert.equal(d.at(-1)!.last, TOTAL, "the last delivery trained to the end");
  const f: FaultFigures = {
    scenario,
    stepsLost: stepsLost(events),
    checkpointInterval: INTERVAL,
    recoverMs: recoveryMs(events, faultEnd, moving),
    deliveries: d.length,
    failedUploads: events.filter(isFailedUpload).length,
    halfWrittenUnread: halfWritten,
    outcome: "succeeded",
  };
  console.log(figureLine(f));
  rows.push(f);
  assert.ok(f.stepsLost <= INTERVAL, `${scenario}: ${f.stepsLost} steps lost, more than one checkpoint interval (${INTERVAL})`);
  assert.ok(f.recoverMs >= 0, `${scenario}: the run never moved after the fault`);
  return f;
}

// The table of every scenario that ran, once the file's tests are done.
after(async () => {
  if (!rows.length) return;
  const table = faultTable(rows);
  const file = await writeTable("faults.md", table);
  console.log(`${table}\n(written to ${file})`);
});

describe("reliability — faults", { timeout: 900_000 }, () => {
  let h: Harness;
  let dataset: Dataset;
  before(async () => {
    h = await startHarness();
    dataset = await addSftDataset(h);
  });
  /** Starts the run on `t`, waits until it is between two checkpoints, returns the runtime's pid. */
  const runToMidInterval = async (runId: string, t: TrainerChild): Promise<number> => {
    await startRun(h, dataset, runId, t);
    await whileRunning(t, eventsUntil(h, runId, midInterval(Date.now())));
    return runtimePid(t);
  };
  after(async () => {
    for (const t of trainers) killGroup(t);
    await h?.close();
  });

  test("runtime SIGKILLed mid-stage: the trainer's next delivery resumes from the newest complete checkpoint", async () => {
    const runId = "fault-runtime-kill";
    const t = trainer(h, "trainer-a");
    const pid = await runToMidInterval(runId, t);
    await plantHalfWritten(h, runId); // before the kill: the trainer's next delivery may list checkpoints at once
    process.kill(pid, "SIGKILL");
    const killedAt = Date.now();
    assert.ok(await processGone(pid));
    await finish(h, runId, "runtime SIGKILL", killedAt, isProgress, t);
    killGroup(t);
  });

  test("trainer service SIGKILLed mid-stage and restarted: the job is redelivered and resumed", async () => {
    const runId = "fault-trainer-kill";
    const first = trainer(h, "trainer-b");
    const pid = await runToMidInterval(runId, first);
    first.child.kill("SIGKILL"); // the service process only, not its group
    const killedAt = Date.now();
    assert.equal((await first.exited).signal, "SIGKILL");
    assert.ok(await processGone(pid), "the runtime does not outlive its trainer");
    await plantHalfWritten(h, runId);
    const second = trainer(h, "trainer-b");
    await finish(h, runId, "trainer SIGKILL + restart", killedAt, isProgress, second);
    killGroup(second);
  });

  test("nats-server restarted mid-run: the trainer reconnects and the run completes", async () => {
    const runId = "fault-nats-restart";
    const t = trainer(h, "trainer-c");
    const ckpt = await startRun(h, dataset, runId, t);
    await whileRunning(t, eventsUntil(h, runId, progressAt(ckpt + INTERVAL / 2)));
    await h.nats.restart();
    const restartedAt = Date.now();
    await finish(h, runId, "nats-server restart", restartedAt, () => true, t);
    killGroup(t);
  });

  test("MinIO stopped for 60 s during a checkpoint upload: no half-written checkpoint is read, the run completes", async () => {
    const runId = "fault-minio-outage";
    const t = trainer(h, "trainer-d");
    await publishTrain(h, sftJob(runId, dataset, sftArgs({ maxSteps: TOTAL, saveSteps: INTERVAL })));
    // The second checkpoint is saved: its upload is starting when MinIO goes.
    await whileRunning(t, eventsUntil(h, runId, (e) => e.kind?.$case === "runtime" && e.kind.value.kind?.$case === "checkpointSaved" && e.kind.value.kind.value.step >= 2 * INTERVAL));
    await h.minio.halt();
    await outageOf(MINIO_OUTAGE_MS);
    const backAt = Date.now(); // the outage ends as MinIO starts again
    await h.minio.restart();
    await finish(h, runId, "MinIO down 60 s", backAt, isUpload, t);
    killGroup(t);
  });
});

describe("reliability — faults (filesystem store)", { timeout: 600_000 }, () => {
  let h: Harness;
  let dataset: Dataset;
  before(async () => {
    h = await startHarness({ store: "fs" });
    dataset = await addSftDataset(h);
  });
  after(async () => {
    for (const t of trainers) killGroup(t);
    await h?.close();
  });

  test("fs store read-only for 30 s mid-stage: the run completes", async (t) => {
    const runId = "fault-fs-readonly";
    const tr = trainer(h, "trainer-e");
    await startRun(h, dataset, runId, tr);
    const restore = await makeUnwritable([h.fsRoot, path.join(h.fsRoot, ".staging"), path.join(h.fsRoot, "checkpoints")]);
    if (!restore) return t.skip("cannot make a directory unwritable here (root without chattr +i)");
    try {
      await outageOf(FS_OUTAGE_MS);
    } finally {
      await restore();
    }
    const backAt = Date.now();
    await finish(h, runId, "fs store read-only 30 s", backAt, isUpload, tr);
    killGroup(tr);
  });
});
