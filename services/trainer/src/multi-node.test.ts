// A stage over two nodes, as a JobSet runs it: two trainers given torchrun's rendezvous (node 0 pulls the job
// from the real queue, node 1 asks node 0 for it) run one SFT together on the real runtime (CPU, gloo, loopback).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { freePort, RunEvent, Stage, StageJob, StageStatus } from "@mambalign/core";
import { startTrainerService, type StartedTrainer } from "./index.js";
import { addSftDataset, eventsUntil, type Harness, publishTrain, runtimeOf, sftArgs, sftJob, startHarness, transitions, versionsOfRun } from "../test-support/harness.js";
import { loadTrainerOptions, type Rendezvous } from "./trainer-options.js";

let h: Harness;
const trainers: StartedTrainer[] = [];
before(async () => {
  h = await startHarness();
});
after(async () => {
  for (const t of trainers) await t.stop();
  await h?.close();
});

/** The rendezvous of one JobSet on loopback, and a starter for its node `nodeRank`'s trainer (one job each). */
async function twoNodes(group: string) {
  const base = { nnodes: 2, masterAddr: "127.0.0.1", masterPort: await freePort(), group };
  const start = (nodeRank: number) =>
    startTrainerService(h.deps, {
      peers: h.peers,
      workerId: `${group}-node-${nodeRank}`,
      maxJobs: 1,
      ackWaitMs: 30_000,
      heartbeatMs: 500,
      rendezvous: { ...base, nodeRank } satisfies Rendezvous,
    });
  return { base, start };
}

test("multi-node stage — node 1 follows node 0's job: one SFT over 2 nodes (world size 2), result registered once; a merge runs on node 0 alone", { timeout: 300_000 }, async () => {
  const trainData = await addSftDataset(h);
  const { base, start } = await twoNodes("r1-mambalign-trainer-abcde");
  // The follower first: it must wait for node 0 to hold a job.
  const follower = await start(1);
  const leader = await start(0);
  trainers.push(follower, leader);
  const runId = "two-nodes";
  await publishTrain(h, sftJob(runId, trainData, sftArgs({ maxSteps: 4, saveSteps: 1000 })));
  const events = await eventsUntil(h, runId, (e) => e.kind?.$case === "transition" && e.kind.value.status === StageStatus.STAGE_STATUS_SUCCEEDED, 240_000);
  await follower.done; // node 1's runtime finished its share without error
  const [started] = runtimeOf(events, "started");
  assert.equal(started!.versions.world_size, "2", "one torch world across both nodes");
  assert.deepEqual(runtimeOf(events, "progress").map((p) => p.step), [1, 2, 3, 4]);
  assert.deepEqual(transitions(events).map((t) => t.status), [StageStatus.STAGE_STATUS_RUNNING, StageStatus.STAGE_STATUS_SUCCEEDED]);
  const [sft] = await versionsOfRun(h, runId);
  assert.ok(sft, "registered once");
  assert.equal((await versionsOfRun(h, runId)).length, 1);

  // A merge in the same JobSet shape: node 0 runs it alone (the runtime ignores the pod's rendezvous
  // variables for merge), node 1 learns it has nothing to do and ends.
  const podEnv = { PET_NNODES: "2", PET_NODE_RANK: "0", PET_MASTER_ADDR: "127.0.0.1", PET_MASTER_PORT: String(base.masterPort), JOBSET_NAME: base.group };
  Object.assign(process.env, podEnv);
  try {
    const mergeFollower = await start(1);
    const mergeLeader = await start(0);
    trainers.push(mergeFollower, mergeLeader);
    const merge = StageJob.fromPartial({ jobId: `${runId}.merge.1`, runId, stage: Stage.STAGE_MERGE, attempt: 1, baseModel: { uri: "preset:tiny-mamba-char" }, inputVersion: sft.id, lineage: [sft], trainDataset: trainData.id, outputName: `${runId}-merged` });
    await publishTrain(h, merge);
    const mergeEvents = await eventsUntil(h, runId, (e) => e.jobId === merge.jobId && e.kind?.$case === "transition" && e.kind.value.status !== StageStatus.STAGE_STATUS_RUNNING, 120_000);
    const last = transitions(mergeEvents.filter((e) => e.jobId === merge.jobId)).at(-1)!;
    assert.equal(last.status, StageStatus.STAGE_STATUS_SUCCEEDED, last.message);
    await mergeFollower.done;
  } finally {
    for (const k of Object.keys(podEnv)) delete process.env[k];
  }
});

test("multi-node stage — a cancelled run stops node 1's share too: its trainer ends without error, nothing registered", { timeout: 300_000 }, async () => {
  const trainData = await addSftDataset(h);
  const { start } = await twoNodes("r2-mambalign-trainer-fghij");
  const follower = await start(1);
  const leader = await start(0);
  trainers.push(follower, leader);
  const runId = "two-nodes-cancelled";
  // Long enough that only the cancel ends it within the test.
  await publishTrain(h, sftJob(runId, trainData, sftArgs({ maxSteps: 100_000, saveSteps: 100_000 })));
  // A step reported: both nodes are in the torch world.
  await eventsUntil(h, runId, (e) => e.kind?.$case === "runtime" && e.kind.value.kind?.$case === "progress", 240_000);
  // The run's end, as the pipeline publishes it on CancelRun.
  await h.deps.bus.publishEvent(
    RunEvent.fromPartial({ runId, stage: Stage.STAGE_UNSPECIFIED, time: new Date(), kind: { $case: "transition", value: { status: StageStatus.STAGE_STATUS_CANCELLED, message: "cancelled" } } }),
  );
  await follower.done; // rejects if node 1's runtime failed instead of being stopped
  await leader.done;
  assert.deepEqual(await versionsOfRun(h, runId), [], "a cancelled run registers nothing");
});

test("trainer options — the rendezvous environment: node rank, master and JobSet name checked, named on error", () => {
  const env = { PET_NNODES: "2", PET_NODE_RANK: "1", PET_MASTER_ADDR: "js-node-0-0.js", PET_MASTER_PORT: "29500", JOBSET_NAME: "js" };
  assert.deepEqual(loadTrainerOptions(env).rendezvous, { nnodes: 2, nodeRank: 1, masterAddr: "js-node-0-0.js", masterPort: 29500, group: "js" });
  assert.equal(loadTrainerOptions({}).rendezvous.nnodes, 1);
  const bad = (over: Record<string, string | undefined>, variable: string) =>
    assert.throws(() => loadTrainerOptions({ ...env, ...over }), (e: Error & { variable?: string }) => e.variable === variable, variable);
  bad({ PET_NODE_RANK: "2" }, "PET_NODE_RANK");
  bad({ PET_MASTER_ADDR: "" }, "PET_MASTER_ADDR");
  bad({ JOBSET_NAME: undefined }, "JOBSET_NAME");
  bad({ JOBSET_NAME: "Bad.Name" }, "JOBSET_NAME");
});
