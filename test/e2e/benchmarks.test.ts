// evaluation — a full MT-Bench + AlpacaEval v1/v2 run of the demo model against the deterministic
// local judge, through the pipeline: every service in this process (as `mambalign up` runs them),
// the evaluator's judge configured by MAMBALIGN_JUDGE_* only, its benchmark files the ones it ships (no setting). All 80 MT-Bench questions x 2 turns and
// all 805 AlpacaEval instructions; answers are capped at a few tokens so CPU generation stays short.
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { callUnary, createClient, RegistryServiceClient, RunStatus, Stage, StageStatus } from "@mambalign/core";
import { type LocalJudgeServer, startLocalJudgeServer } from "../../services/evaluator/test-support/local-judge-server.js";
import { allKeys, startSystem, type System } from "./harness.js";

const LIMIT_S = 8 * 60;
/** Wall time counts from here: system start-up included. */
const T0 = performance.now();

const SFT_ROWS = Array.from({ length: 32 }, (_, i) => ({
  messages: [
    { role: "user", content: `Say something about the number ${i}.` },
    { role: "assistant", content: `The number ${i} comes after ${i - 1}.` },
  ],
}));

function recipe(dataFile: string): string {
  return `
name: bench
model_name_or_path: preset:tiny-mamba-char
stages: [sft, eval]
datasets:
  chat: ${dataFile}
torch_dtype: float32
use_peft: true
seed: 1
sft: { dataset_mixer: { chat: 1.0 }, max_steps: 2, per_device_train_batch_size: 8 }
eval:
  benchmarks: [mt_bench, alpaca_eval_v1, alpaca_eval_v2]
  bench_max_new_tokens: 8
  batch_size: 64
`;
}

describe("evaluation", () => {
  let judge: LocalJudgeServer;
  let sys: System;
  const savedOmp = process.env.OMP_NUM_THREADS;

  before(async () => {
    judge = await startLocalJudgeServer();
    // As the demo does: one thread per runtime process is far faster for the tiny model on 2 cores.
    process.env.OMP_NUM_THREADS = "1";
    sys = await startSystem({
      MAMBALIGN_JUDGE_BASE_URL: judge.baseUrl,
      MAMBALIGN_JUDGE_MODEL: "local-judge",
      MAMBALIGN_JUDGE_API_KEY: "not-a-real-key",
      // No Hub here: AlpacaEval 2.0 then reports the length adjustment without instruction difficulty, not LC.
      MAMBALIGN_ALPACA_EVAL_LC_DATASET: "off",
      OMP_NUM_THREADS: "1",
    });
  });
  after(async () => {
    await sys?.stop();
    await judge?.close();
    if (savedOmp === undefined) delete process.env.OMP_NUM_THREADS;
    else process.env.OMP_NUM_THREADS = savedOmp;
  });

  test("a full MT-Bench + AlpacaEval v1/v2 run of the demo model against a local judge completes through the pipeline", { timeout: LIMIT_S * 1000 }, async () => {
    const dataFile = path.join(sys.stateDir, "sft.jsonl");
    await fsp.writeFile(dataFile, SFT_ROWS.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const { id } = await sys.startRun(recipe(dataFile), `bench-${Date.now()}`);
    const run = await sys.waitRun(id);
    const wallS = (performance.now() - T0) / 1000;
    assert.equal(run.status, RunStatus.RUN_STATUS_SUCCEEDED, run.message);

    const evalStage = run.stages.find((s) => s.stage === Stage.STAGE_EVAL)!;
    const versionId = run.stages.find((s) => s.stage === Stage.STAGE_SFT)!.output;
    assert.equal(evalStage.status, StageStatus.STAGE_STATUS_SUCCEEDED);

    // The evaluated registry version carries the headline scores.
    const registry = createClient(RegistryServiceClient, sys.system.addr);
    const version = await callUnary(registry.getVersion.bind(registry), { id: versionId }).finally(() => registry.close());
    const evaluation = version.version!.evals.find((e) => e.evalId === evalStage.output);
    assert.ok(evaluation, `version ${versionId} lists eval ${evalStage.output}: ${JSON.stringify(version.version!.evals.map((e) => e.evalId))}`);
    const m = evaluation.metrics;
    for (const k of ["mt_bench/score", "alpaca_eval_v1/win_rate", "alpaca_eval_v2/length_adjusted_win_rate_no_difficulty"]) {
      assert.ok(Number.isFinite(m[k]), `${k} on the version: ${JSON.stringify(m)}`);
    }
    assert.ok(m["mt_bench/score"]! >= 1 && m["mt_bench/score"]! <= 10, `MT-Bench score on the 1-10 scale: ${m["mt_bench/score"]}`);
    for (const k of ["alpaca_eval_v1/win_rate", "alpaca_eval_v2/win_rate", "alpaca_eval_v2/length_adjusted_win_rate_no_difficulty"]) {
      assert.ok(m[k]! >= 0 && m[k]! <= 100, `${k} is a percentage: ${m[k]}`);
    }
    assert.equal(m["alpaca_eval_v1/n_total"], 805);
    assert.equal(m["alpaca_eval_v2/n_total"], 805);

    // Report, charts and the judged rows are in the store.
    const prefix = `evals/${evalStage.output}/`;
    const keys = (await allKeys(sys.system.deps)).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    assert.ok(keys.includes("report.html"), keys.join(", "));
    const pngs = keys.filter((k) => k.endsWith(".png"));
    assert.ok(pngs.length >= 2, `chart PNGs: ${keys.join(", ")}`);
    for (const png of pngs) {
      const body = await sys.system.deps.store.get(prefix + png);
      assert.deepEqual([...body.subarray(1, 4)], [...Buffer.from("PNG")], png);
    }
    const html = (await sys.system.deps.store.get(`${prefix}report.html`)).toString("utf8");
    assert.match(html, /MT-Bench/);
    assert.match(html, /AlpacaEval/);

    const text = async (name: string) => (await sys.system.deps.store.get(prefix + name)).toString("utf8");
    const judgments = (await text("mt_bench_judgments.jsonl")).trim().split("\n").map((l) => JSON.parse(l) as { question_id: number; turn: number });
    assert.equal(judgments.length, 160, "80 questions x 2 turns judged");
    assert.equal(new Set(judgments.map((j) => `${j.question_id}/${j.turn}`)).size, 160);
    const v1 = JSON.parse(await text("alpaca_eval_v1_annotations.json")) as unknown[];
    const v2 = JSON.parse(await text("alpaca_eval_v2_annotations.json")) as unknown[];
    assert.deepEqual([v1.length, v2.length], [805, 805]);
    // Judged over HTTP by the judge the environment names, its snapshot recorded with the scores.
    assert.ok(judge.stats().succeeded >= 160 + 805 + 805, `judge answered ${judge.stats().succeeded}`);
    assert.match(await text("results.json"), /local-judge-local-0001/);
    const gens = (await text("generations.jsonl")).trim().split("\n").map((l) => JSON.parse(l) as { benchmark: string });
    assert.equal(gens.filter((g) => g.benchmark === "mt_bench").length, 160);
    assert.equal(gens.filter((g) => g.benchmark === "alpaca_eval").length, 805);

    // The base-model baseline ran the same benchmarks.
    const base = run.baselines.find((b) => b.label === "base")!;
    assert.equal(base.status, StageStatus.STAGE_STATUS_SUCCEEDED, base.message);
    assert.ok(Number.isFinite(base.metrics["mt_bench/score"]), JSON.stringify(base.metrics));

    const fmt = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(3));
    const stats = judge.stats();
    console.log(
      [
        `benchmarks e2e: run ${id} ${RunStatus[run.status]} in ${wallS.toFixed(1)} s (limit ${LIMIT_S} s)`,
        `  judge: ${stats.requests} request(s), ${stats.succeeded} answered`,
        `  ${"model".padEnd(6)} ${"mt_bench/score".padStart(15)} ${"turn_1".padStart(7)} ${"turn_2".padStart(7)} ${"v1 win".padStart(7)} ${"v2 win".padStart(7)} ${"v2 adj".padStart(7)}`,
        ...[
          ["base", base.metrics],
          ["sft", m],
        ].map(([label, x]) => {
          const r = x as Record<string, number>;
          return `  ${String(label).padEnd(6)} ${fmt(r["mt_bench/score"]).padStart(15)} ${fmt(r["mt_bench/turn_1"]).padStart(7)} ${fmt(r["mt_bench/turn_2"]).padStart(7)} ${fmt(r["alpaca_eval_v1/win_rate"]).padStart(7)} ${fmt(r["alpaca_eval_v2/win_rate"]).padStart(7)} ${fmt(r["alpaca_eval_v2/length_adjusted_win_rate_no_difficulty"]).padStart(7)}`;
        }),
      ].join("\n"),
    );
    assert.ok(wallS < LIMIT_S, `wall time ${wallS.toFixed(1)} s < ${LIMIT_S} s`);
  });
});
