// trainer — graceful shutdown: SIGTERM to the trainer makes the runtime checkpoint and exit 75; the checkpoint is
// uploaded, the job is handed back, and the next trainer resumes it from that step.
import assert from "node:assert/strict";
import { test } from "node:test";
import { StageStatus } from "@mambalign/core";
import { completeSteps, eventsUntil, logs, runtimeOf, transitions, versionsOfRun } from "../test-support/harness.js";
import { finishOnSecondTrainer, startFirstDelivery, useHarness } from "../test-support/process-tests.js";

const harness = useHarness();

test("trainer — SIGTERM: runtime checkpoints and exits 75, the checkpoint is uploaded, the job is redelivered and resumed", async () => {
  const h = harness();
  const runId = "preempt";
  const total = 24;
  const first = await startFirstDelivery(h, runId, {
    maxSteps: total,
    // No interval checkpoints: the only checkpoint before the end is the SIGTERM one.
    saveSteps: 1000,
    env: { MAMBALIGN_CHECKPOINT_GRACE_S: "60" },
    until: (e) => e.kind?.$case === "runtime" && e.kind.value.kind?.$case === "progress" && e.kind.value.kind.value.step >= 3,
  });
  // Only the trainer: it forwards the signal to its runtime.
  first.child.kill("SIGTERM");
  assert.deepEqual(await first.exited, { code: 0, signal: null }, first.output());

  const preempted = await eventsUntil(h, runId, (e) => e.kind?.$case === "runtime" && e.kind.value.kind?.$case === "finished");
  const saved = runtimeOf(preempted, "checkpointSaved");
  assert.equal(saved.length, 1);
  assert.equal(saved[0]!.reason, "sigterm");
  const stoppedAt = saved[0]!.step;
  assert.ok(stoppedAt >= 3 && stoppedAt < total);
  assert.deepEqual(runtimeOf(preempted, "finished").map((f) => [f.status, f.step]), [["preempted", stoppedAt]]);
  // Uploaded with its manifest before the trainer exited.
  assert.deepEqual(await completeSteps(h, runId, "sft"), [stoppedAt]);

  const events = await finishOnSecondTrainer(h, runId);
  const started = runtimeOf(events, "started");
  assert.deepEqual(started.map((s) => s.startStep), [0, stoppedAt]);
  assert.ok(logs(events).some((m) => m.startsWith(`resuming from checkpoint step ${stoppedAt} `)));
  // A preemption is not a failure: no FAILED transition, one registered result.
  assert.ok(!transitions(events).some((t) => t.status === StageStatus.STAGE_STATUS_FAILED));
  assert.equal((await versionsOfRun(h, runId)).length, 1);
});
