// evaluator — options: the benchmark files are found with no setting (a Helm install sets none).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { retryWindowMs } from "@mambalign/core";
import { loadEvaluatorOptions, SHIPPED_BENCH_DATA_DIR } from "./evaluator-options.js";
import { ALPACA_EVAL_CONFIGS } from "./judging/index.js";

test("evaluator options — without MAMBALIGN_BENCH_DATA_DIR the benchmark files shipped with the package are used", () => {
  const { benchDataDir } = loadEvaluatorOptions({});
  assert.equal(benchDataDir, SHIPPED_BENCH_DATA_DIR);
  const wanted = [
    "mt_bench/question.jsonl",
    "mt_bench/judge_prompts.jsonl",
    "mt_bench/reference_answer_gpt-4.jsonl",
    ...Object.values(ALPACA_EVAL_CONFIGS).flatMap((c) => [`alpaca_eval/${c.promptFile}`, `alpaca_eval/${c.referenceFile}`]),
  ];
  for (const f of wanted) assert.ok(existsSync(join(benchDataDir, f)), `${f} ships in ${benchDataDir}`);
});

test("evaluator options — MAMBALIGN_BENCH_DATA_DIR overrides the shipped folder; an empty value keeps it", () => {
  assert.equal(loadEvaluatorOptions({ MAMBALIGN_BENCH_DATA_DIR: "/srv/bench" }).benchDataDir, "/srv/bench");
  assert.equal(loadEvaluatorOptions({ MAMBALIGN_BENCH_DATA_DIR: "" }).benchDataDir, SHIPPED_BENCH_DATA_DIR);
});

test("evaluator options — by default an eval job rides out a 60 s store, judge or NATS outage", () => {
  const o = loadEvaluatorOptions({});
  assert.ok(retryWindowMs(o.maxDeliver, o.retryBackoff) >= 120_000);
});
