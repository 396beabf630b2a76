import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ALPACA_EVAL_V2,
  fitLogisticRegression,
  JudgeClient,
  judgeAlpacaEval,
  lengthControlledWinRate,
  loadAlpacaEvalPrompt,
  loadAlpacaEvalReference,
  scoreAlpacaEval,
  sigmoid,
  startLocalJudgeServer,
  type LengthControlRow,
} from "./index.js";
import { SHIPPED_BENCH_DATA_DIR } from "../evaluator-options.js";

const data = join(SHIPPED_BENCH_DATA_DIR, "alpaca_eval");

/** Small seeded PRNG (mulberry32) so the synthetic judges are the same every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 805 comparisons; the model's outputs are usually longer. `judge` gives P(model preferred) from the two lengths. */
function simulate(seed: number, judge: (baseLen: number, modelLen: number) => number, soft: boolean): LengthControlRow[] {
  const rand = prng(seed);
  return Array.from({ length: 805 }, () => {
    const baselineLength = 200 + Math.floor(rand() * 1800);
    const modelLength = Math.max(10, Math.round(baselineLength * (0.6 + rand() * 1.4)));
    const p = judge(baselineLength, modelLength);
    const preference = soft ? 1 + p : rand() < p ? 2 : 1;
    return { preference, baselineLength, modelLength };
  });
}

describe("length-controlled win rate — logistic regression", () => {
  it("recovers known coefficients from exact soft labels", () => {
    const rand = prng(7);
    const beta = [1.5, -0.7, 0.3];
    const X = Array.from({ length: 400 }, () => [rand() * 4 - 2, rand() * 2 - 1, 1]);
    const y = X.map((x) => sigmoid(x.reduce((s, v, j) => s + v * beta[j]!, 0)));
    const fit = fitLogisticRegression(X, y, { l2: 0 });
    assert.ok(fit.converged);
    fit.coefficients.forEach((b, j) => assert.ok(Math.abs(b - beta[j]!) < 1e-6, `coefficient ${j}: ${b} vs ${beta[j]}`));
  });

  it("stays finite when every preference agrees (ridge penalty)", () => {
    const fit = fitLogisticRegression([[1, 1], [0.5, 1], [-1, 1]], [1, 1, 1], { l2: 1 });
    assert.ok(fit.converged && fit.coefficients.every(Number.isFinite));
  });
});

describe("length-controlled win rate — sanity", () => {
  it("a judge that only prefers longer outputs: raw win rate well above 50, LC near 50 and lower", () => {
    const lengthJudge = (b: number, m: number): number => sigmoid(3 * Math.tanh((m - b) / 600));
    for (const soft of [true, false]) {
      const rows = simulate(11, lengthJudge, soft);
      const raw = (100 * rows.reduce((s, r) => s + r.preference - 1, 0)) / rows.length;
      const lc = lengthControlledWinRate(rows).result!;
      assert.ok(raw > 60, `raw ${raw}`);
      assert.ok(lc.winRate < raw - 10, `LC ${lc.winRate} < raw ${raw}`);
      assert.ok(Math.abs(lc.winRate - 50) < 8, `LC ${lc.winRate} near 50`);
      assert.ok(lc.coefficients.length < 0, "longer model output (negative baseline-minus-model difference) raises the preference");
    }
  });

  it("a judge blind to length: LC stays close to the raw win rate", () => {
    const rows = simulate(12, () => 0.7, true);
    const lc = lengthControlledWinRate(rows).result!;
    assert.ok(Math.abs(lc.winRate - 70) < 1, `LC ${lc.winRate}`);
  });

  it("uses instruction difficulty when given, and says why it cannot fit without length spread", () => {
    const rows = simulate(13, () => 0.6, true).map((r, i) => ({ ...r, difficulty: (i % 5) - 2 }));
    const lc = lengthControlledWinRate(rows).result!;
    assert.equal(lc.usedInstructionDifficulty, true);
    assert.equal(typeof lc.coefficients.instructionDifficulty, "number");
    const flat = lengthControlledWinRate([1.2, 1.8, 1.5].map((preference) => ({ preference, baselineLength: 10, modelLength: 20 })));
    assert.equal(flat.result, null);
    assert.match(flat.skipped!, /no spread/);
  });

  it("end to end over HTTP: the local v2 judge favours length, so scored LC is below the raw win rate", async () => {
    const ref = (await loadAlpacaEvalReference(join(data, ALPACA_EVAL_V2.referenceFile))).slice(0, 200);
    const template = await loadAlpacaEvalPrompt(join(data, ALPACA_EVAL_V2.promptFile));
    const rand = prng(5);
    // Mostly padded outputs: the local judge prefers the longer one.
    const outputs = ref.map((r) => ({ instruction: r.instruction, output: rand() < 0.75 ? `${r.output}\n${"More detail. ".repeat(30)}` : r.output.slice(0, r.output.length >> 1) }));
    const server = await startLocalJudgeServer();
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4-1106-preview", concurrency: 16 });
      const annotations = await judgeAlpacaEval({ client, config: ALPACA_EVAL_V2, template, reference: ref, outputs, generator: "padded", seed: "lc" });
      const [s] = scoreAlpacaEval(annotations);
      assert.ok(s!.winRate! > 60, `raw ${s!.winRate}`);
      assert.ok(s!.lengthControlled!.winRate < s!.winRate!, `LC ${s!.lengthControlled!.winRate} < raw ${s!.winRate}`);
    } finally {
      await server.close();
    }
  });
});

describe("length-controlled win rate — instruction difficulty table", () => {
  it("keys AlpacaEval's index,difficulty CSV by instruction and names a bad line", async () => {
    const { parseInstructionDifficultyCsv, ValidationError } = await import("./index.js");
    const m = parseInstructionDifficultyCsv("index,instruction_difficulty\n0,-0.5\n2,1.25\n", ["a", "b", "c"], "d.csv");
    assert.deepEqual([...m], [["a", -0.5], ["c", 1.25]]);
    assert.throws(() => parseInstructionDifficultyCsv("h\n7,1\n", ["a"], "d.csv"), (e: unknown) => e instanceof ValidationError && e.row === 2);
  });
});
