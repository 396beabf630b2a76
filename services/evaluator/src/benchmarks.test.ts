import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { JOB_SUBJECTS, Stage, StageJob, StageStatus } from "@mambalign/core";
import { MT_BENCH_TEMPERATURES } from "./judging/index.js";
import { type EvalTestEnv, finalTransition, getVersion, registerTinyAdapter, startEvalTestEnv, untilStageEnds } from "../test-support/eval-test-env.js";
import { type LocalJudgeServer, startLocalJudgeServer } from "../test-support/local-judge-server.js";

// No benchDataDir given: the evaluator must find the question files it ships (services/evaluator/benchmarks).
const LIMIT = 4;

let env: EvalTestEnv;
let judge: LocalJudgeServer;

before(async () => {
  judge = await startLocalJudgeServer();
  env = await startEvalTestEnv({ judge: { baseUrl: judge.baseUrl, model: undefined, concurrency: 4 } });
});

after(async () => {
  await env?.stop();
  await judge?.close();
});

async function text(key: string): Promise<string> {
  return (await env.deps.store.get(key)).toString("utf8");
}

test("evaluator — an MT-Bench + AlpacaEval v1/v2 smoke run against the local judge puts the scores on the version and in the report", async () => {
  const version = await registerTinyAdapter(env, "tiny-bench", "bench1");
  const jobId = "bench1.eval.1";
  await env.deps.bus.publishJob(
    JOB_SUBJECTS.eval,
    StageJob.fromPartial({
      jobId,
      runId: "bench1",
      stage: Stage.STAGE_EVAL,
      attempt: 1,
      baseModel: { uri: "preset:tiny-mamba-char" },
      inputVersion: version.id,
      lineage: [version],
      // Short answers keep CPU generation to seconds; the benchmarks' own lengths are 1024 and 2048.
      eval: { benchmarks: ["mt_bench", "alpaca_eval_v1", "alpaca_eval_v2"], limit: LIMIT, benchMaxNewTokens: 8, batchSize: 4 },
    }),
  );
  const events = await untilStageEnds(env, jobId, 170_000);
  const end = finalTransition(events);
  assert.equal(end.status, StageStatus.STAGE_STATUS_SUCCEEDED, end.message);
  const prefix = `evals/${jobId}`;

  // MT-Bench: both turns, the second after the model's own first answer, at FastChat's temperature.
  const gens = (await text(`${prefix}/generations.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  const mt = gens.filter((g) => g.benchmark === "mt_bench");
  assert.equal(mt.length, LIMIT * 2);
  // A smoke run spreads over categories: writing and roleplay sample at 0.7, reasoning and math are greedy.
  assert.deepEqual([...new Set(mt.map((g) => g.category))], ["writing", "roleplay", "reasoning", "math"]);
  for (const t2 of mt.filter((g) => g.turn === 2)) {
    const t1 = mt.find((g) => g.turn === 1 && g.question_id === t2.question_id);
    assert.deepEqual(t2.messages[1], { role: "assistant", content: t1.output });
    assert.equal(t2.messages.length, 3);
    assert.equal(t2.temperature, MT_BENCH_TEMPERATURES[t2.category as keyof typeof MT_BENCH_TEMPERATURES]);
  }
  // The local judge rates an answer 1 + floor(chars / 50) (max 10): the score follows from the answers.
  const rating = (answer: string) => Math.min(10, 1 + Math.floor([...answer].length / 50));
  const judged = mt.map((g) => rating(g.turn === 1 ? g.output : g.output.trim()));
  const expectedMt = judged.reduce((a, b) => a + b, 0) / judged.length;

  const attached = (await getVersion(env, version.id)).evals.find((e) => e.evalId === jobId);
  assert.ok(attached, "AttachEval reached the registry");
  const m = attached.metrics;
  assert.equal(m["mt_bench/score"], expectedMt);
  assert.equal(m["mt_bench/overall"], expectedMt);
  assert.ok(m["mt_bench/turn_1"] !== undefined && m["mt_bench/turn_2"] !== undefined);
  assert.equal(m["mt_bench/n_unparsable"], 0);

  // AlpacaEval: the limited instructions judged against each version's baseline.
  for (const v of ["v1", "v2"]) {
    const annotations = JSON.parse(await text(`${prefix}/alpaca_eval_${v}_annotations.json`)) as { preference: number | null }[];
    assert.equal(annotations.length, LIMIT);
    assert.ok(annotations.every((a) => a.preference !== null));
    const winRate = (annotations.reduce((s, a) => s + (a.preference! - 1), 0) / annotations.length) * 100;
    assert.ok(Math.abs(m[`alpaca_eval_${v}/win_rate`]! - winRate) < 1e-9, `${v} win rate ${m[`alpaca_eval_${v}/win_rate`]} vs ${winRate}`);
    assert.equal(m[`alpaca_eval_${v}/n_total`], LIMIT);
  }
  // AlpacaEval's LC data is off in the test environment: no figure is called LC (and 4 annotations are too few for
  // the 5-fold fit of the length adjustment that would stand in for it).
  assert.equal(m["alpaca_eval_v2/lc_win_rate"], undefined);

  // results.json records the judge and its reported snapshot with the scores.
  const results = JSON.parse(await text(`${prefix}/results.json`));
  const own = results.entries.at(-1);
  assert.equal(own.versionId, version.id);
  assert.deepEqual(own.mtBench.judgeSnapshots, ["gpt-4-local-0001"]);
  assert.equal(own.alpacaEval.v2.judgeModel, "gpt-4-1106-preview");
  assert.equal(own.alpacaEval.v2.scores.lengthControlled, null);
  assert.match(own.alpacaEval.v2.scores.lengthControlledSkipped, /LC data is switched off/);

  // The report: MT-Bench radar and win-rate bars in the page, each rendered to a PNG in the store.
  const html = await text(`${prefix}/report.html`);
  const charts = [...html.matchAll(/data-chart="([^"]+)"/g)].map((x) => x[1]!);
  assert.ok(charts.length >= 2, `charts in the report: ${charts.join(", ")}`);
  for (const id of charts) {
    const png = await env.deps.store.get(`${prefix}/${id}.png`);
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from("PNG")], `${id}.png is a PNG`);
  }

  // Every judge answer is cached in the store (evals/judge-cache/), so a rerun costs no judge calls.
  const judgeCalls = LIMIT * 2 + LIMIT + LIMIT;
  let cached = 0;
  for await (const _ of env.deps.store.list("evals/judge-cache/")) cached++;
  assert.equal(cached, judgeCalls);
  assert.equal(judge.stats().succeeded, judgeCalls);
});
