// trainer — crash recovery (issue 2 "Done when"): a trainer process SIGKILLed during SFT; a new one resumes the
// redelivered job from the newest checkpoint whose manifest is complete and never from a prefix without one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { StageStatus } from "@mambalign/core";
import { completeSteps, killGroup, logs, runtimeOf, transitions, versionsOfRun } from "../test-support/harness.js";
import { finishOnSecondTrainer, startFirstDelivery, useHarness } from "../test-support/process-tests.js";

const harness = useHarness();

test("trainer — SIGKILL during SFT, then a new trainer resumes from the newest complete checkpoint and the run completes", async () => {
  const h = harness();
  const runId = "crash";
  const total = 24;
  const first = await startFirstDelivery(h, runId, {
    maxSteps: total,
    saveSteps: 4,
    // A checkpoint is uploaded (manifest written): the trainer says so on the run's events.
    until: (e) => e.kind?.$case === "log" && /^checkpoint step \d+ uploaded/.test(e.kind.value.message),
  });
  // The whole process group: the trainer and its runtime die together, as in a lost pod.
  killGroup(first);
  assert.equal((await first.exited).signal, "SIGKILL");

  const complete = await completeSteps(h, runId, "sft");
  assert.ok(complete.length >= 1);
  const newest = complete.at(-1)!;
  assert.ok(newest < total, "killed before the end");
  // A half-uploaded checkpoint at a higher step: files but no manifest.
  const planted = `checkpoints/${runId}/sft/${total + 100}`;
  await h.deps.store.put(`${planted}/trainer_state.json`, JSON.stringify({ step: total + 100 }));
  await h.deps.store.put(`${planted}/adapter/adapter_model.safetensors`, "not a checkpoint");

  // One job then exit (Kubernetes job mode): the redelivered job.
  const events = await finishOnSecondTrainer(h, runId);

  const started = runtimeOf(events, "started");
  assert.equal(started.length, 2, "one runtime per delivery");
  assert.equal(started[0]!.startStep, 0);
  assert.equal(started[1]!.startStep, newest, `resumed from step ${newest}, the newest complete checkpoint`);
  assert.ok(logs(events).includes(`resuming from checkpoint step ${newest} (${h.deps.store.uri(`checkpoints/${runId}/sft/${newest}`)}/)`));
  const resumedSteps = runtimeOf(events.slice(events.findLastIndex((e) => e.kind?.$case === "runtime" && e.kind.value.kind?.$case === "started")), "progress").map((p) => p.step);
  assert.deepEqual(resumedSteps, Array.from({ length: total - newest }, (_, i) => newest + 1 + i));

  // The planted prefix stayed incomplete and unused; the run's result is registered.
  assert.ok(!(await completeSteps(h, runId, "sft")).includes(total + 100));
  assert.equal(runtimeOf(events, "finished").at(-1)?.status, "completed");
  const deliveries = transitions(events).filter((t) => t.status === StageStatus.STAGE_STATUS_RUNNING).map((t) => t.message);
  assert.deepEqual(deliveries.map((m) => m.replace(/-\d+$/, "")), ["delivery 1 on trainer-a", "delivery 2 on trainer-b"]);
  assert.equal((await versionsOfRun(h, runId)).length, 1);
});
