// reliability — load (issue 12): 100 concurrent runs through the real pipeline and datasets services (real NATS
// JetStream, fs store), with STAND-IN trainer and evaluator workers (a fast runtime stand-in: each pulls its job from
// the real queue, reports progress and success, and trains nothing). Every stage of every run must run exactly once
// (one delivery, no duplicate), no run lost, and the StartRun latencies are printed (p50/p99/max). Then 1,000
// concurrent StartRuns with one request id give one run. Prints one LOAD line per figure set.
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  AdapterVersion,
  callUnary,
  createClient,
  JOB_SUBJECTS,
  PipelineServiceClient,
  type RunEvent,
  RunStatus,
  Stage,
  StageStatus,
} from "@mambalign/core";
import { startDatasetsService } from "@mambalign/datasets";
import { startPipelineService } from "@mambalign/pipeline";
import { type Harness, startHarness, watchRunToEnd } from "../e2e/harness.js";

const RUNS = Number(process.env.LOAD_RUNS ?? 100);
const SAME_REQUEST = Number(process.env.LOAD_SAME_REQUEST ?? 1000);

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const SFT_ROWS = Array.from({ length: 20 }, (_, i) => ({ messages: [{ role: "user", content: `q${i}` }, { role: "assistant", content: `a${i}` }] }));
const PREF_ROWS = Array.from({ length: 20 }, (_, i) => ({ prompt: [{ role: "user", content: `p${i}` }], chosen: [{ role: "assistant", content: `c${i}` }], rejected: [{ role: "assistant", content: `r${i}` }] }));

function recipe(dir: string, i: number): string {
  return `
name: load-${i}
model_name_or_path: preset:tiny-mamba-char
stages: [sft, merge, dpo, eval]
datasets: { sft-data: ${dir}/sft.jsonl, prefs: ${dir}/prefs.jsonl, questions: ${dir}/sft.jsonl }
use_peft: true
sft: { dataset_mixer: { sft-data: 1.0 }, max_steps: 2 }
dpo: { dataset_mixer: { prefs: 1.0 }, max_steps: 2 }
eval: { exact_match_dataset: questions }
`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe("reliability — load", { timeout: 600_000 }, () => {
  let h: Harness;
  let client: PipelineServiceClient;
  let data: string;
  /** Every job a stand-in ran: `<job id>` -> deliveries seen. */
  const ran = new Map<string, number[]>();
  let workers: { stop(): Promise<void> }[] = [];

  before(async () => {
    h = await startHarness(async (deps) => [await startDatasetsService(deps), await startPipelineService(deps)]);
    client = createClient(PipelineServiceClient, h.addr);
    data = path.join(h.tmp, "data");
    await fsp.mkdir(data);
    await fsp.writeFile(path.join(data, "sft.jsonl"), jsonl(SFT_ROWS));
    await fsp.writeFile(path.join(data, "prefs.jsonl"), jsonl(PREF_ROWS));
    // The fast runtime stand-ins: the trainer's and the evaluator's part, in a few milliseconds per job.
    const standIn = (durable: string, subjects: (typeof JOB_SUBJECTS)[keyof typeof JOB_SUBJECTS][]) =>
      h.deps.bus.startJobWorker({
        durable,
        subjects,
        handler: async (job, ctl) => {
          ran.set(job.jobId, [...(ran.get(job.jobId) ?? []), ctl.deliveryCount]);
          const base = { runId: job.runId, stage: job.stage, jobId: job.jobId, time: new Date() };
          const publish = (kind: RunEvent["kind"]) => h.deps.bus.publishEvent({ ...base, kind });
          await publish({ $case: "transition", value: { status: StageStatus.STAGE_STATUS_RUNNING, message: "stand-in", output: "", metrics: {}, outputVersion: undefined } });
          const output = job.stage === Stage.STAGE_EVAL ? `eval-${job.jobId}` : `${job.outputName}/v1`;
          const metrics: Record<string, number> = job.stage === Stage.STAGE_EVAL ? { "eval/exact_match": 0.5 } : {};
          // A trained version comes with its registry record, which the next jobs carry.
          const outputVersion = job.stage === Stage.STAGE_EVAL ? undefined : AdapterVersion.fromPartial({ id: output, parent: job.inputVersion });
          await publish({ $case: "transition", value: { status: StageStatus.STAGE_STATUS_SUCCEEDED, message: "stand-in", output, metrics, outputVersion } });
        },
      });
    workers = [standIn("load-trainer-stand-in", [JOB_SUBJECTS.train, JOB_SUBJECTS.merge]), standIn("load-evaluator-stand-in", [JOB_SUBJECTS.eval])];
  });
  after(async () => {
    for (const w of workers) await w.stop();
    client?.close();
    await h?.stop();
  });

  const ended = (id: string) => watchRunToEnd(client, id);

  test(`${RUNS} concurrent runs on stand-in workers: every stage runs exactly once, none lost; StartRun p99 printed`, async () => {
    const started = performance.now();
    const latencies: number[] = [];
    const runs = await Promise.all(
      Array.from({ length: RUNS }, async (_, i) => {
        const t0 = performance.now();
        const res = await callUnary(client.startRun.bind(client), { recipeYaml: recipe(data, i), requestId: `load-${i}` }, { deadlineMs: 120_000 });
        latencies.push(performance.now() - t0);
        return res.run!;
      }),
    );
    assert.equal(new Set(runs.map((r) => r.id)).size, RUNS, "one run per request id");
    const finals = await Promise.all(runs.map((r) => ended(r.id)));
    const wallS = (performance.now() - started) / 1000;
    const notSucceeded = finals.filter((r) => r.status !== RunStatus.RUN_STATUS_SUCCEEDED);
    assert.deepEqual(notSucceeded.map((r) => `${r.id}: ${RunStatus[r.status]} ${r.message}`), [], "every run succeeded");

    // Exactly once: each run's six jobs (sft, merge, dpo, eval, and the base and sft baselines) ran once, on delivery 1.
    const expected = ["sft.1", "merge.1", "dpo.1", "eval.1", "eval-base.1", "eval-sft.1"];
    for (const r of runs) {
      for (const j of expected) assert.deepEqual(ran.get(`${r.id}.${j}`), [1], `${r.id}.${j} ran once`);
    }
    const mine = [...ran.keys()].filter((k) => runs.some((r) => k.startsWith(`${r.id}.`)));
    assert.equal(mine.length, RUNS * expected.length, "no job beyond the expected ones");
    assert.equal(await h.deps.bus.jobQueueDepth(), 0, "nothing left in the queue");

    latencies.sort((a, b) => a - b);
    const figures = { runs: RUNS, jobs: mine.length, p50StartRunMs: Math.round(percentile(latencies, 50)), p99StartRunMs: Math.round(percentile(latencies, 99)), maxStartRunMs: Math.round(latencies.at(-1)!), wallS: Math.round(wallS * 10) / 10 };
    console.log(`LOAD ${JSON.stringify(figures)}`);
  });

  test(`${SAME_REQUEST} concurrent StartRuns with one request id give one run`, async () => {
    const yaml = recipe(data, 9999);
    const latencies: number[] = [];
    const results = await Promise.all(
      Array.from({ length: SAME_REQUEST }, async () => {
        const t0 = performance.now();
        const res = await callUnary(client.startRun.bind(client), { recipeYaml: yaml, requestId: "load-same" }, { deadlineMs: 120_000 });
        latencies.push(performance.now() - t0);
        return res.run!.id;
      }),
    );
    assert.equal(new Set(results).size, 1, "one run id for every call");
    const listed = (await callUnary(client.listRuns.bind(client), {})).runs.filter((r) => r.requestId === "load-same");
    assert.equal(listed.length, 1, "one run listed for the request id");
    assert.equal((await ended(results[0]!)).status, RunStatus.RUN_STATUS_SUCCEEDED);
    latencies.sort((a, b) => a - b);
    console.log(`LOAD ${JSON.stringify({ sameRequestIdCalls: SAME_REQUEST, runs: listed.length, p99StartRunMs: Math.round(percentile(latencies, 99)), maxStartRunMs: Math.round(latencies.at(-1)!) })}`);
  });
});
