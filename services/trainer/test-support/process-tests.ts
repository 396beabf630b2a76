// Shared set-up of the tests that run trainer processes (crash recovery, SIGTERM): one harness per test file, the
// first delivery of an SFT job on one trainer, and the second trainer that picks up the redelivered job and finishes it.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { type RunEvent, StageStatus } from "@mambalign/core";
import {
  addSftDataset,
  eventsUntil,
  type Harness,
  publishTrain,
  sftArgs,
  sftJob,
  spawnTrainer,
  startHarness,
  type TrainerChild,
  whileRunning,
} from "./harness.js";

/** Starts the harness before the file's tests and closes it after them; the getter reads it inside a test. */
export function useHarness(): () => Harness {
  let h: Harness | undefined;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });
  return () => h!;
}

export interface FirstDelivery {
  maxSteps: number;
  saveSteps: number;
  /** Extra environment of the first trainer. */
  env?: Record<string, string>;
  /** The run's event that the first trainer runs until (then the test stops it). */
  until(e: RunEvent): boolean;
}

/** Publishes an SFT job and starts "trainer-a" on it; resolves with that trainer once `until` held. */
export async function startFirstDelivery(h: Harness, runId: string, o: FirstDelivery): Promise<TrainerChild> {
  await publishTrain(h, sftJob(runId, await addSftDataset(h), sftArgs({ maxSteps: o.maxSteps, saveSteps: o.saveSteps })));
  const first = spawnTrainer(h, { HOSTNAME: "trainer-a", ...o.env });
  await whileRunning(first, eventsUntil(h, runId, o.until));
  return first;
}

/** A trainer in Kubernetes job mode (one job, then exit) on "trainer-b": the run's events until its stage SUCCEEDED. */
export async function finishOnSecondTrainer(h: Harness, runId: string): Promise<RunEvent[]> {
  const second = spawnTrainer(h, { HOSTNAME: "trainer-b", MAMBALIGN_TRAINER_MAX_JOBS: "1" });
  const events = await whileRunning(
    second,
    eventsUntil(h, runId, (e) => e.kind?.$case === "transition" && e.kind.value.status === StageStatus.STAGE_STATUS_SUCCEEDED),
  );
  assert.deepEqual(await second.exited, { code: 0, signal: null }, second.output());
  return events;
}
