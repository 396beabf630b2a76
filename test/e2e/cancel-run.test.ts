// pipeline — CancelRun reaches the workers: a queued job of a cancelled run never starts, a running
// stage's runtime ends within seconds, and nothing is registered. Real NATS, fs store, the real
// datasets, registry and pipeline services, and a trainer running the real Python runtime (CPU).
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import * as fsp from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import {
  ApiError,
  callUnary,
  createClient,
  PipelineServiceClient,
  RegistryServiceClient,
  type RunEvent,
  Stage,
  StageStatus,
  status,
} from "@mambalign/core";
import { startDatasetsService } from "@mambalign/datasets";
import { startPipelineService } from "@mambalign/pipeline";
import { startRegistryService } from "@mambalign/registry";
import { type StartedTrainer, startTrainerService } from "@mambalign/trainer";
import { type Harness, startHarness } from "./harness.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PYTHON = process.env.MAMBALIGN_PYTHON ?? path.join(REPO_ROOT, ".venv/bin/python");

const rows = Array.from({ length: 40 }, (_, i) => ({
  messages: [
    { role: "user", content: `reverse w${i}x` },
    { role: "assistant", content: `x${i}w` },
  ],
}));

// Long enough that only a cancel ends it within the test; no checkpoint on the way.
const recipe = (dir: string, name: string) => `
name: ${name}
model_name_or_path: preset:tiny-mamba-char
stages: [sft]
datasets:
  chat: ${dir}/sft.jsonl
use_peft: true
sft: { dataset_mixer: { chat: 1.0 }, max_steps: 100000, save_steps: 100000, logging_steps: 1 }
`;

/** Pids of runtime processes whose command line names this job. */
async function runtimePids(jobId: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes("mambalign_runtime") && cmd.includes(jobId)) pids.push(Number(entry));
  }
  return pids;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("pipeline — CancelRun stops the run's workers", () => {
  let h: Harness;
  let pipeline: PipelineServiceClient;
  let registry: RegistryServiceClient;
  let trainer: StartedTrainer | undefined;
  let data: string;

  before(async () => {
    process.env.PYTHONPATH = path.join(REPO_ROOT, "services/runtime");
    h = await startHarness(async (deps) => [await startDatasetsService(deps), await startRegistryService(deps), await startPipelineService(deps)]);
    pipeline = createClient(PipelineServiceClient, h.addr);
    registry = createClient(RegistryServiceClient, h.addr);
    data = path.join(h.tmp, "data");
    await fsp.mkdir(data);
    await fsp.writeFile(path.join(data, "sft.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  });
  after(async () => {
    pipeline?.close();
    registry?.close();
    await trainer?.stop();
    await h?.stop();
  });

  const startTrainer = () =>
    startTrainerService({ ...h.deps, config: { ...h.deps.config, python: PYTHON } }, { workerId: "cancel-test", ackWaitMs: 10_000, heartbeatMs: 500 });
  const startRun = async (name: string) => (await callUnary(pipeline.startRun.bind(pipeline), { recipeYaml: recipe(data, name), requestId: name })).run!;
  const cancel = (id: string) => callUnary(pipeline.cancelRun.bind(pipeline), { id });
  const sftJobId = async (runId: string) => {
    const run = (await callUnary(pipeline.getRun.bind(pipeline), { id: runId })).run!;
    return run.stages.find((s) => s.stage === Stage.STAGE_SFT)?.jobId || undefined;
  };
  const queueEmpty = async () => {
    const info = await h.deps.bus.jsm.consumers.info("JOBS", "trainer").catch(() => undefined);
    return (await h.deps.bus.jobQueueDepth()) === 0 && (info?.num_ack_pending ?? 0) === 0 ? true : undefined;
  };
  async function eventsOf(runId: string): Promise<RunEvent[]> {
    const out: RunEvent[] = [];
    const ac = new AbortController();
    const last = await h.deps.bus.jsm.streams.getMessage("EVENTS", { last_by_subj: `events.${runId}` });
    for await (const { seq, event } of h.deps.bus.watchEvents(runId, { signal: ac.signal })) {
      out.push(event);
      if (seq >= (last?.seq ?? 0)) break;
    }
    ac.abort();
    return out;
  }
  async function assertNothingRegistered(name: string, runId: string) {
    const versions = (await callUnary(registry.listVersions.bind(registry), { name: "" })).versions;
    assert.deepEqual(versions.filter((v) => v.runId === runId), [], "no version registered from the cancelled run");
    await assert.rejects(callUnary(registry.resolveAlias.bind(registry), { name: `${name}-sft`, alias: "latest" }), (e: ApiError) => e.code === status.NOT_FOUND);
  }

  test("a job queued for a cancelled run is dropped when claimed: the stage never starts", { timeout: 120_000 }, async () => {
    const run = await startRun("queued");
    const jobId = await until("the SFT job to be queued", 30_000, () => sftJobId(run.id));
    await cancel(run.id);
    trainer = await startTrainer();
    await until("the job to leave the queue", 30_000, queueEmpty);
    const events = await eventsOf(run.id);
    const stageStarted = events.some(
      (e) => e.jobId === jobId && ((e.kind?.$case === "transition" && e.kind.value.status === StageStatus.STAGE_STATUS_RUNNING) || e.kind?.$case === "runtime"),
    );
    assert.equal(stageStarted, false, "no RUNNING transition and no runtime event for the cancelled job");
    assert.deepEqual(await runtimePids(jobId), []);
    await assertNothingRegistered("queued", run.id);
  });

  test("cancelling a running stage ends its runtime within seconds and registers nothing", { timeout: 180_000 }, async () => {
    trainer ??= await startTrainer();
    const run = await startRun("running");
    const jobId = await until("the SFT job", 30_000, () => sftJobId(run.id));
    await until("training progress", 90_000, async () =>
      (await eventsOf(run.id)).some((e) => e.kind?.$case === "runtime" && e.kind.value.kind?.$case === "progress") || undefined,
    );
    assert.notDeepEqual(await runtimePids(jobId), [], "the runtime is running");
    const cancelledAt = Date.now();
    await cancel(run.id);
    await until("the runtime to end", 15_000, async () => ((await runtimePids(jobId)).length === 0 ? true : undefined));
    const stoppedMs = Date.now() - cancelledAt;
    await until("the job to leave the queue", 15_000, queueEmpty);
    await assertNothingRegistered("running", run.id);
    assert.ok(stoppedMs < 15_000, `runtime ended ${stoppedMs} ms after CancelRun`);
  });
});
