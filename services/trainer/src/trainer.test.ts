// trainer — jobs run end to end on the real runtime (CPU, tiny preset), real NATS + MinIO,
// and the real datasets and registry services over gRPC.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type AdapterVersion,
  ArtifactKind,
  callUnary,
  createClient,
  type DatasetVersion,
  readManifest,
  Stage,
  StageJob,
  StageStatus,
  startGrpcServer,
  TrainerServiceClient,
  WorkerStatus,
} from "@mambalign/core";
import { type StartedTrainer, startTrainerService, WORKERS_BUCKET } from "./index.js";
import { settledConsumer, testServerSecurity } from "@mambalign/core/testing";
import {
  addSftDataset,
  completeSteps,
  eventsUntil,
  type Harness,
  logs,
  publishTrain,
  runtimeOf,
  sftArgs,
  sftJob,
  startHarness,
  transitions,
  versionsOfRun,
} from "../test-support/harness.js";

const done = (e: { kind?: { $case: string; value: unknown } }) =>
  e.kind?.$case === "transition" &&
  [StageStatus.STAGE_STATUS_SUCCEEDED, StageStatus.STAGE_STATUS_FAILED].includes((e.kind.value as { status: StageStatus }).status);

describe("trainer — in-process worker", () => {
  let h: Harness;
  let trainer: StartedTrainer;
  let client: InstanceType<typeof TrainerServiceClient>;
  let grpcClose: () => Promise<void>;
  let trainData: DatasetVersion;
  let trainDataset: string;

  before(async () => {
    h = await startHarness();
    trainer = await startTrainerService(h.deps, {
      peers: h.peers,
      workerId: "in-process-1",
      ackWaitMs: 10_000,
      retryBackoff: { initialMs: 200, maxMs: 1_000 },
      heartbeatMs: 500,
    });
    const grpc = await startGrpcServer({ host: "127.0.0.1", port: 0, logger: h.deps.logger, services: trainer.bindings, security: testServerSecurity() });
    grpcClose = () => grpc.close(1_000);
    client = createClient(TrainerServiceClient, `127.0.0.1:${grpc.port}`);
    trainData = await addSftDataset(h);
    trainDataset = trainData.id;
  });

  after(async () => {
    client?.close();
    await grpcClose?.();
    await trainer?.stop();
    await h?.close();
  });

  let sftVersion = "";
  let sftRecord: AdapterVersion | undefined;

  test("an SFT job runs end to end: events relayed, checkpoints uploaded with manifests, version registered", async () => {
    const runId = "e2e-sft";
    await publishTrain(h, sftJob(runId, trainData, sftArgs({ maxSteps: 8, saveSteps: 4 })));
    const events = await eventsUntil(h, runId, done);

    // Every relayed event names the run, stage and job.
    for (const e of events) assert.deepEqual([e.runId, e.stage, e.jobId], [runId, Stage.STAGE_SFT, `${runId}.sft.1`]);
    const started = runtimeOf(events, "started");
    assert.equal(started.length, 1);
    assert.deepEqual([started[0]!.command, started[0]!.totalSteps, started[0]!.startStep], ["sft", 8, 0]);
    assert.deepEqual(runtimeOf(events, "progress").map((p) => p.step), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(runtimeOf(events, "checkpointSaved").map((c) => [c.step, c.reason]), [[4, "interval"], [8, "final"]]);

    // Checkpoints and the final adapter are complete prefixes: manifest present and listing every file.
    assert.deepEqual(await completeSteps(h, runId, "sft"), [4, 8]);
    const ckpt = await readManifest(h.deps.store, `checkpoints/${runId}/sft/4`);
    assert.ok(ckpt?.files.some((f) => f.path === "adapter/adapter_model.safetensors"));
    assert.ok(ckpt?.files.some((f) => f.path === "optimizer.pt"));
    const final = await readManifest(h.deps.store, `checkpoints/${runId}/sft/final`);
    assert.ok(final?.files.some((f) => f.path === "adapter_model.safetensors"));
    assert.ok(logs(events).some((m) => m.startsWith("checkpoint step 4 uploaded to s3://")));

    // Registered as an ADAPTER with lineage, datasets and the final loss (read back from the registry).
    const [v] = await versionsOfRun(h, runId);
    assert.ok(v, "a version registered for the run");
    assert.equal(v.id, `${runId}-sft/v1`);
    assert.equal(v.kind, ArtifactKind.ARTIFACT_KIND_ADAPTER);
    assert.equal(v.stage, Stage.STAGE_SFT);
    assert.equal(v.baseModel?.uri, "preset:tiny-mamba-char");
    // Lineage records what the runtime resolved the base to (for a preset: its build seed).
    assert.ok(v.baseModel?.resolved, "base model resolved revision recorded");
    assert.equal(v.parent, "");
    assert.deepEqual(v.datasets, [trainDataset]);
    assert.equal(v.metrics["train/loss"], runtimeOf(events, "progress").at(-1)!.loss);
    assert.ok(Number.isFinite(v.metrics["eval/loss"]), "eval/loss from the dataset's test split");
    assert.deepEqual(
      v.manifest.map((f) => [f.path, f.sha256]),
      final!.files.map((f) => [f.path, f.sha256]),
      "the registry holds the uploaded adapter's bytes",
    );

    const ts = transitions(events);
    assert.equal(ts[0]!.status, StageStatus.STAGE_STATUS_RUNNING);
    const last = ts.at(-1)!;
    assert.equal(last.status, StageStatus.STAGE_STATUS_SUCCEEDED, last.message);
    assert.equal(last.output, `${runId}-sft/v1`);
    // The version's registry record travels with it, for the jobs that build on it.
    assert.deepEqual(last.outputVersion, v);
    sftVersion = last.output;
    sftRecord = last.outputVersion;

    // TrainerService over gRPC: complete checkpoints only, and the worker's status.
    const listed = await callUnary(client.listCheckpoints.bind(client), { runId, stage: Stage.STAGE_SFT });
    assert.deepEqual(listed.checkpoints.map((c) => c.step), [4, 8]);
    assert.match(listed.checkpoints[0]!.uri, /\/checkpoints\/e2e-sft\/sft\/4$/);
    assert.match(listed.checkpoints[0]!.manifestSha256, /^[0-9a-f]{64}$/);
    // The SUCCEEDED transition goes out just before the worker records the job as done: wait for its heartbeat.
    const kv = await h.deps.bus.kv(WORKERS_BUCKET, { encode: WorkerStatus.toJSON, decode: WorkerStatus.fromJSON });
    const ac = new AbortController();
    for await (const { value } of kv.watch({ key: "in-process-1", signal: ac.signal })) {
      if (value && !value.busy && value.jobsCompleted === 1) ac.abort();
    }
    const { worker } = await callUnary(client.getWorker.bind(client), {});
    assert.equal(worker?.workerId, "in-process-1");
    assert.equal(worker?.busy, false);
    assert.equal(worker?.jobsCompleted, 1);

    const metrics = await h.deps.metrics.registry.metrics();
    assert.match(metrics, /mambalign_trainer_jobs_total\{service="trainer",outcome="succeeded"\} 1/);
    assert.match(metrics, /mambalign_trainer_upload_bytes_total\{service="trainer",kind="checkpoint"\} [1-9]/);
  });

  test("a merge job merges the registered SFT adapter into a MODEL version whose parent is the adapter", async () => {
    assert.ok(sftVersion, "needs the SFT test's version");
    const runId = "e2e-sft";
    const job = StageJob.fromPartial({
      jobId: `${runId}.merge.1`,
      runId,
      stage: Stage.STAGE_MERGE,
      attempt: 1,
      baseModel: { uri: "preset:tiny-mamba-char" },
      inputVersion: sftVersion,
      lineage: [sftRecord!],
      trainDataset,
      outputName: `${runId}-merged`,
    });
    await publishTrain(h, job);
    const events = await eventsUntil(h, runId, (e) => e.jobId === job.jobId && done(e));
    const mine = events.filter((e) => e.jobId === job.jobId);
    assert.deepEqual(runtimeOf(mine, "artifact").map((a) => a.kind), ["model"]);
    const last = transitions(mine).at(-1)!;
    assert.equal(last.status, StageStatus.STAGE_STATUS_SUCCEEDED, last.message);
    const { version: v } = await callUnary(h.peers.registry.getVersion.bind(h.peers.registry), { id: last.output });
    assert.ok(v);
    assert.equal(v.kind, ArtifactKind.ARTIFACT_KIND_MODEL);
    assert.equal(v.stage, Stage.STAGE_MERGE);
    assert.equal(v.parent, sftVersion);
    assert.ok(v.manifest.some((f) => f.path.endsWith(".safetensors")));
  });

  test("an invalid spec (runtime exit 2) terminates the job with a FAILED transition naming the field", async () => {
    const runId = "bad-spec";
    await publishTrain(h, sftJob(runId, trainData, sftArgs({ lrSchedulerType: "sometimes" })));
    const events = await eventsUntil(h, runId, done);
    const failed = transitions(events).at(-1)!;
    assert.equal(failed.status, StageStatus.STAGE_STATUS_FAILED);
    assert.match(failed.message, /train\.args\.lrSchedulerType/);
    assert.equal(runtimeOf(events, "error")[0]?.field, "train.args.lrSchedulerType");
    // Terminated, not redelivered: one delivery, nothing pending on the consumer.
    assert.equal(transitions(events).filter((t) => t.status === StageStatus.STAGE_STATUS_RUNNING).length, 1);
    assert.deepEqual(await settledCounts(h), [0, 0]);
    assert.deepEqual(await versionsOfRun(h, runId), []);
  });

  test("a job whose dataset it does not carry resolved fails before the runtime, naming trainDataset", async () => {
    const runId = "no-dataset";
    await publishTrain(h, { ...sftJob(runId, trainData, sftArgs()), trainDataset: "f".repeat(64) });
    const events = await eventsUntil(h, runId, done);
    const failed = transitions(events).at(-1)!;
    assert.equal(failed.status, StageStatus.STAGE_STATUS_FAILED);
    assert.match(failed.message, /^trainDataset: dataset "f{64}" not found/);
    assert.equal(runtimeOf(events, "started").length, 0);
  });
});

/** [num_pending, num_ack_pending] of the trainer's consumer once the last job is settled. */
async function settledCounts(h: Harness): Promise<[number, number]> {
  const info = await settledConsumer(h.deps.bus.jsm, "trainer");
  return [info.num_pending, info.num_ack_pending];
}
