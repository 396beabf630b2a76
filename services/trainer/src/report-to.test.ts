// trainer — report_to: a stage's TensorBoard and W&B files land in the store under the run's prefix, and
// its MLflow run (on a real tracking server) is tagged with the version the trainer registered.
// Real runtime (CPU, tiny preset), NATS, MinIO and MLflow; each tracker's files read back with its own reader.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type DatasetVersion, StageStatus } from "@mambalign/core";
import { type MlflowServer, startMlflowServer } from "@mambalign/core/testing";
import { type StartedTrainer, startTrainerService } from "./index.js";
import { addSftDataset, eventsUntil, type Harness, PYTHON, publishTrain, runtimeOf, sftArgs, sftJob, startHarness, transitions, versionsOfRun } from "../test-support/harness.js";

const run = promisify(execFile);

const done = (e: { kind?: { $case: string; value: unknown } }) =>
  e.kind?.$case === "transition" &&
  [StageStatus.STAGE_STATUS_SUCCEEDED, StageStatus.STAGE_STATUS_FAILED].includes((e.kind.value as { status: StageStatus }).status);

// TensorBoard's own reader over a log dir (a local path or s3://): {tag: {step: value}}.
const READ_TENSORBOARD = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1]); acc.Reload()
print(json.dumps({t: {e.step: e.value for e in acc.Scalars(t)} for t in acc.Tags()["scalars"]}))
`;

async function keysUnder(h: Harness, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of h.deps.store.list(`${prefix}/`)) keys.push(o.key.slice(prefix.length + 1));
  return keys;
}

async function download(h: Harness, prefix: string, dir: string): Promise<void> {
  for (const rel of await keysUnder(h, prefix)) await h.deps.store.getFile(`${prefix}/${rel}`, path.join(dir, rel));
}

describe("trainer — report_to", () => {
  let h: Harness;
  let trainer: StartedTrainer;
  let mlflow: MlflowServer;
  let trainData: DatasetVersion;
  let scratch: string;

  before(async () => {
    [h, mlflow] = await Promise.all([startHarness(), startMlflowServer()]);
    trainer = await startTrainerService(h.deps, { peers: h.peers, workerId: "report-to-1", ackWaitMs: 10_000, heartbeatMs: 500 });
    trainData = await addSftDataset(h);
    scratch = await mkdtemp(path.join(tmpdir(), "mambalign-report-to-"));
  });

  after(async () => {
    await trainer?.stop();
    await Promise.all([h?.close(), mlflow?.stop()]);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test("an SFT stage's trackers: TensorBoard and W&B files stored with the run, the MLflow run tagged with the registered version", async () => {
    const runId = "report-to";
    const args = sftArgs({ maxSteps: 4, saveSteps: 2, reportTo: ["tensorboard", "wandb", "mlflow"], mlflowTrackingUri: mlflow.uri });
    await publishTrain(h, sftJob(runId, trainData, args));
    const events = await eventsUntil(h, runId, done);
    const last = transitions(events).at(-1)!;
    assert.equal(last.status, StageStatus.STAGE_STATUS_SUCCEEDED, last.message);
    const losses = Object.fromEntries(runtimeOf(events, "progress").map((p) => [String(p.step), p.loss]));
    assert.deepEqual(Object.keys(losses), ["1", "2", "3", "4"]);

    // TensorBoard: event files under the run's prefix; TensorBoard reads every step's loss from them.
    const tbPrefix = `checkpoints/${runId}/tensorboard/sft`;
    const tbKeys = await keysUnder(h, tbPrefix);
    assert.equal(tbKeys.length, 1, tbKeys.join(", "));
    assert.match(tbKeys[0]!, /^events\.out\.tfevents\./);
    // Read where it lies, as `tensorboard --logdir s3://...` does (TensorBoard's S3 reader: boto3, S3_ENDPOINT).
    const s3 = { S3_ENDPOINT: h.minio.endPoint, AWS_ACCESS_KEY_ID: h.minio.accessKey, AWS_SECRET_ACCESS_KEY: h.minio.secretKey, AWS_REGION: "us-east-1" };
    const { stdout } = await run(PYTHON, ["-c", READ_TENSORBOARD, h.deps.store.uri(tbPrefix)], { env: { ...process.env, ...s3 } });
    const scalars = JSON.parse(stdout) as Record<string, Record<string, number>>;
    for (const tag of ["train/loss", "train/learning_rate", "train/grad_norm", "train/tokens_per_s", "eval/loss"]) assert.ok(scalars[tag], tag);
    assert.deepEqual(Object.keys(scalars["train/loss"]!), ["1", "2", "3", "4"]);
    for (const [step, loss] of Object.entries(losses)) assert.ok(Math.abs(scalars["train/loss"]![step]! - loss) < 1e-5 * Math.abs(loss), step);

    // W&B (no API key: offline): the run's transaction log is stored, and wandb's reader finds the run in it.
    const wbKeys = await keysUnder(h, `checkpoints/${runId}/wandb/sft`);
    const log = wbKeys.find((k) => /^offline-run-[^/]+\/run-report-to-sft\.wandb$/.test(k));
    assert.ok(log, wbKeys.join(", "));
    assert.ok(!wbKeys.some((k) => k.endsWith(".log")), "W&B's debug logs stay behind");
    const wbDir = path.join(scratch, "wandb");
    await download(h, `checkpoints/${runId}/wandb/sft`, wbDir);
    const inspected = await run(PYTHON, ["-m", "wandb", "leet", "inspect", "--json", path.join(wbDir, path.dirname(log))]);
    const records = inspected.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; run?: Record<string, unknown>; history?: { item: Record<string, number> } });
    const wbRun = records.find((r) => r.type === "run")!.run!;
    assert.deepEqual([wbRun["run_group"], wbRun["job_type"]], [runId, "sft"]);
    assert.deepEqual(records.filter((r) => r.type === "history").map((r) => r.history!.item["train/loss"]).filter((v) => v !== undefined), Object.values(losses));

    // MLflow: the run the runtime reported carries the registry version once it is registered.
    const [version] = await versionsOfRun(h, runId);
    assert.ok(version);
    const mlflowRun = runtimeOf(events, "started")[0]!.versions["mlflow.run_id"];
    assert.ok(mlflowRun);
    const res = await fetch(`${mlflow.uri}/api/2.0/mlflow/runs/get?run_id=${mlflowRun}`);
    const body = (await res.json()) as { run: { info: { status: string }; data: { tags: { key: string; value: string }[]; metrics: { key: string; value: number; step: string }[] } } };
    const tags = Object.fromEntries(body.run.data.tags.map((t) => [t.key, t.value]));
    assert.equal(tags["mambalign.registry.version"], version.id);
    assert.equal(tags["mambalign.registry.uri"], version.uri);
    assert.equal(tags["mambalign.run_id"], runId);
    assert.equal(body.run.info.status, "FINISHED");
  });
});
