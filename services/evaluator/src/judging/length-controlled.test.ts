import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ALPACA_EVAL_V2,
  fitL1LogisticRegression,
  fitLogisticRegression,
  flattenEvalMetrics,
  formatAlpacaEvalSummary,
  JudgeClient,
  judgeAlpacaEval,
  LENGTH_ADJUSTED_METRIC,
  lengthAdjustedWinRate,
  lengthControlledWinRate,
  loadAlpacaEvalPrompt,
  loadAlpacaEvalReference,
  parseEvalResults,
  scoreAlpacaEval,
  sigmoid,
  type AlpacaEvalAnnotationRow,
  type GamedBaselineRow,
  type LengthControlRow,
} from "./index.js";
import { SHIPPED_BENCH_DATA_DIR } from "../evaluator-options.js";
import { startLocalJudgeServer } from "../../test-support/local-judge-server.js";

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

/** Gamed baselines as AlpacaEval's df_gamed.csv holds them: a verbose one and a concise one, judged with `lengthEffect`. */
function gamedRows(seed: number, difficulty: (i: number) => number, lengthEffect = 2): GamedBaselineRow[] {
  const rand = prng(seed);
  return [-1, 1].flatMap((sign) =>
    Array.from({ length: 805 }, (_, i) => {
      const stdDeltaLen = sign * (0.3 + rand() * 1.5);
      return { stdDeltaLen, difficulty: difficulty(i), preference: sigmoid(-lengthEffect * Math.tanh(stdDeltaLen)) };
    }),
  );
}

describe("length-controlled win rate — L1 logistic regression", () => {
  it("with a negligible penalty it is the unpenalised soft-label maximum-likelihood fit", () => {
    const rand = prng(7);
    const beta = [1.5, -0.7, 0.3];
    const X = Array.from({ length: 400 }, () => [rand() * 4 - 2, rand() * 2 - 1, 1]);
    const y = X.map((x) => sigmoid(x.reduce((s, v, j) => s + v * beta[j]!, 0)));
    const w = X.map(() => 1);
    const l1 = fitL1LogisticRegression(X, y, { weights: w, C: 1e8 });
    const ml = fitLogisticRegression(X, y, { l2: 0 });
    assert.ok(l1.converged);
    l1.coefficients.forEach((b, j) => assert.ok(Math.abs(b - ml.coefficients[j]!) < 1e-6 && Math.abs(b - beta[j]!) < 1e-6, `coefficient ${j}: ${b}`));
  });

  it("a strong L1 penalty sets coefficients exactly to zero, and sample weights count", () => {
    const X = [[1, 1], [0.5, 1], [-1, 1], [2, 1]];
    const y = [0.9, 0.7, 0.2, 1];
    assert.deepEqual(fitL1LogisticRegression(X, y, { weights: [1, 1, 1, 1], C: 1e-4 }).coefficients, [0, 0]);
    const light = fitL1LogisticRegression(X, y, { weights: [1, 1, 1, 1], C: 1 }).coefficients;
    const heavy = fitL1LogisticRegression(X, y, { weights: [2, 2, 2, 2], C: 1 }).coefficients;
    const doubledC = fitL1LogisticRegression(X, y, { weights: [1, 1, 1, 1], C: 2 }).coefficients;
    heavy.forEach((b, j) => assert.ok(Math.abs(b - doubledC[j]!) < 1e-9, `weights 2 at C 1 = weights 1 at C 2 (coefficient ${j})`));
    assert.ok(Math.abs(heavy[0]! - light[0]!) > 1e-3);
  });
});

describe("length-controlled win rate — against scikit-learn", () => {
  it("agrees with LogisticRegressionCV configured as AlpacaEval's length_controlled_v1 on a simulated judge", () => {
    // Expected values: scikit-learn 1.5.2 on exactly these rows (exported once): LogisticRegressionCV(penalty="l1",
    // solver="liblinear", fit_intercept=False, Cs=10, cv=GroupKFold(5), the weighted soft log loss as scoring, soft
    // labels by row duplication, gamed rows at weight 0.1); the length-only GLM likewise without difficulty and
    // gamed rows. liblinear stops at tolerance 1e-4, so agreement is to about 0.01 point.
    const difficulty = (i: number) => ((i * 37) % 11) / 5 - 1;
    const rows = simulate(21, (b, m) => sigmoid(1.5 * Math.tanh((m - b) / 500) - 0.8), true).map((x, i) => ({
      ...x,
      preference: i % 97 === 5 ? null : 1 + sigmoid(Math.log((x.preference! - 1 + 1e-9) / (2 - x.preference! + 1e-9)) - 0.6 * difficulty(i)),
      difficulty: difficulty(i),
    }));
    const lc = lengthControlledWinRate(rows, gamedRows(22, difficulty)).result!;
    const adjusted = lengthAdjustedWinRate(rows).result!;
    assert.equal(lc.nFitted, 796);
    assert.ok(Math.abs(lc.winRate - 30.24556) < 0.01, `LC ${lc.winRate}`);
    assert.ok(Math.abs(lc.coefficients.length - -1.62595) < 1e-3 && Math.abs(lc.coefficients.instructionDifficulty - -0.51977) < 1e-3);
    assert.ok(Math.abs(adjusted.winRate - 31.46518) < 0.01, `adjusted ${adjusted.winRate}`);
  });
});

describe("length-controlled win rate — sanity", () => {
  const difficulty = (i: number) => ((i * 37) % 11) / 5 - 1;

  it("a judge that only prefers longer outputs: raw win rate well above 50, LC near 50", () => {
    const lengthJudge = (b: number, m: number): number => sigmoid(3 * Math.tanh((m - b) / 600));
    for (const soft of [true, false]) {
      const rows = simulate(11, lengthJudge, soft).map((r, i) => ({ ...r, difficulty: difficulty(i) }));
      const raw = (100 * rows.reduce((s, r) => s + r.preference! - 1, 0)) / rows.length;
      const lc = lengthControlledWinRate(rows, gamedRows(3, difficulty)).result!;
      assert.ok(raw > 60, `raw ${raw}`);
      assert.ok(Math.abs(lc.winRate - 50) < 8, `LC ${lc.winRate} near 50 (raw ${raw})`);
      assert.ok(lc.coefficients.length < 0, "longer model output (negative baseline-minus-model difference) raises the preference");
    }
  });

  it("a judge blind to length (for the gamed baselines too): LC stays close to the raw win rate", () => {
    const rows = simulate(12, () => 0.7, true).map((r, i) => ({ ...r, difficulty: difficulty(i) }));
    const lc = lengthControlledWinRate(rows, gamedRows(4, difficulty, 0)).result!;
    assert.ok(Math.abs(lc.winRate - 70) < 1.5, `LC ${lc.winRate}`);
  });

  it("averages the length-zeroed prediction over every row, fitting only rows with a preference and both outputs", () => {
    const rows: LengthControlRow[] = simulate(13, () => 0.6, true).map((r, i) => ({ ...r, difficulty: difficulty(i) }));
    rows[0] = { ...rows[0]!, preference: null };
    rows[1] = { ...rows[1]!, modelLength: null };
    const lc = lengthControlledWinRate(rows, gamedRows(5, difficulty)).result!;
    assert.equal(lc.nFitted, 803);
    assert.equal(lc.nPredicted, 805);
    const { instructionDifficulty: b, model: c } = lc.coefficients;
    const expected = (100 * rows.reduce((s, r) => s + sigmoid(b * r.difficulty! + c), 0)) / rows.length;
    assert.ok(Math.abs(lc.winRate - expected) < 1e-9);
  });

  it("a model compared with itself gets 50; rows without length spread give a reason, not a number", () => {
    const rows = simulate(14, () => 0.6, true).map((r, i) => ({ ...r, difficulty: difficulty(i) }));
    assert.equal(lengthControlledWinRate(rows, gamedRows(6, difficulty), { isBaseline: true }).result!.winRate, 50);
    const flat = lengthAdjustedWinRate([1.2, 1.8, 1.5, 1.1, 1.9, 1.3].map((preference) => ({ preference, baselineLength: 10, modelLength: 20 })));
    assert.equal(flat.result, null);
    assert.match(flat.skipped!, /no spread/);
  });
});

/** Annotations with instructions i0..: `prefs[i]` as stored, outputs of the given lengths. */
function annotations(prefs: (number | string | null)[], model = "m"): AlpacaEvalAnnotationRow[] {
  return prefs.map((preference, i) => ({
    instruction: `i${i}`,
    output_1: "b".repeat(100 + ((i * 53) % 400)),
    output_2: "m".repeat(100 + ((i * 97) % 700)),
    generator_1: ALPACA_EVAL_V2.baseline,
    generator_2: model,
    preference,
  }));
}

describe("AlpacaEval scores — what is called LC", () => {
  const prefs = Array.from({ length: 60 }, (_, i) => 1 + ((i * 7) % 10) / 10);

  it("without AlpacaEval's difficulty data the figure is not called LC anywhere", () => {
    const [s] = scoreAlpacaEval(annotations(prefs), { lcUnavailable: "the Hub could not be reached" });
    assert.equal(s!.lengthControlled, null);
    assert.equal(s!.lengthControlledSkipped, "the Hub could not be reached");
    assert.equal(typeof s!.lengthAdjustedNoDifficulty!.winRate, "number");
    const flat = flattenEvalMetrics(parseEvalResults({ schema: "mambalign.eval-results.v1", createdAt: "x", entries: [{ label: "m", alpacaEval: { v2: { scores: s } } }] }).entries[0]!);
    assert.equal(flat["alpaca_eval_v2/lc_win_rate"], undefined);
    assert.equal(flat[`alpaca_eval_v2/${LENGTH_ADJUSTED_METRIC}`], s!.lengthAdjustedNoDifficulty!.winRate);
    const summary = formatAlpacaEvalSummary([s!]);
    assert.match(summary, /length-adjusted \(no difficulty\)/);
    assert.match(summary, /no LC win rate \(the Hub could not be reached\).*not comparable with AlpacaEval's LC/);
  });

  it("with the difficulty data it is LC, and only against AlpacaEval 2.0's baseline", () => {
    const rows = annotations(prefs);
    const lcReference = { difficultyByInstruction: new Map(rows.map((r, i) => [r.instruction!, (i % 5) - 2])), gamed: gamedRows(8, (i) => (i % 5) - 2), source: "test@1" };
    const [s] = scoreAlpacaEval(rows, { lcReference });
    assert.equal(s!.lengthControlled!.source, "test@1");
    assert.equal(s!.lengthAdjustedNoDifficulty, undefined);
    const [v1] = scoreAlpacaEval(rows.map((r) => ({ ...r, generator_1: "text_davinci_003" })), { lcReference });
    assert.equal(v1!.lengthControlled, null);
    assert.match(v1!.lengthControlledSkipped!, /defined against gpt4_1106_preview/);
  });

  it("counts draws however the preference is stored: 1.5, \"1.5\" or the old 0", () => {
    const [s] = scoreAlpacaEval(annotations([1.5, "1.5", 0, "2", 1, " 1.5 "]));
    assert.equal(s!.nDraws, 4);
    assert.equal(s!.nWins, 1);
    assert.equal(s!.nWinsBase, 1);
  });

  it("a stored result from the earlier non-AlpacaEval fit is read back without an LC", () => {
    const legacy = {
      model: "m", baseline: "gpt4_1106_preview", winRate: 40, standardError: 1, discreteWinRate: 40, nWins: 1, nWinsBase: 1, nDraws: 0, nTotal: 2, nDropped: 0, nMissingOutputs: 0, avgLength: 5,
      lengthControlled: { winRate: 45, coefficients: { length: -1, model: 0.2 }, n: 2, lengthDifferenceSd: 3, l2: 1, usedInstructionDifficulty: false, converged: true },
    };
    const entry = parseEvalResults({ schema: "mambalign.eval-results.v1", createdAt: "x", entries: [{ label: "m", alpacaEval: { v2: { scores: legacy } } }] }).entries[0]!;
    assert.equal(entry.alpacaEval.v2!.scores.lengthControlled, null);
    assert.match(entry.alpacaEval.v2!.scores.lengthControlledSkipped!, /not AlpacaEval's LC/);
    assert.equal(flattenEvalMetrics(entry)["alpaca_eval_v2/lc_win_rate"], undefined);
  });
});

describe("length-controlled win rate — end to end", () => {
  it("over HTTP: the local v2 judge favours length, so the length-adjusted figure is below the raw win rate", async () => {
    const ref = (await loadAlpacaEvalReference(join(data, ALPACA_EVAL_V2.referenceFile))).slice(0, 200);
    const template = await loadAlpacaEvalPrompt(join(data, ALPACA_EVAL_V2.promptFile));
    const rand = prng(5);
    // Mostly padded outputs: the local judge prefers the longer one.
    const outputs = ref.map((r) => ({ instruction: r.instruction, output: rand() < 0.75 ? `${r.output}\n${"More detail. ".repeat(30)}` : r.output.slice(0, r.output.length >> 1) }));
    const server = await startLocalJudgeServer();
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4-1106-preview", concurrency: 16 });
      const annotated = await judgeAlpacaEval({ client, config: ALPACA_EVAL_V2, template, reference: ref, outputs, generator: "padded", seed: "lc" });
      const [s] = scoreAlpacaEval(annotated);
      assert.ok(s!.winRate! > 60, `raw ${s!.winRate}`);
      assert.ok(s!.lengthAdjustedNoDifficulty!.winRate < s!.winRate!, `adjusted ${s!.lengthAdjustedNoDifficulty!.winRate} < raw ${s!.winRate}`);
    } finally {
      await server.close();
    }
  });
});

describe("length-controlled win rate — AlpacaEval's data files", () => {
  it("parses instruction_difficulty.csv and df_gamed.csv, naming a bad line, and joins them by eval-set order", async () => {
    const { buildLcReference, parseGamedCsv, ValidationError } = await import("./index.js");
    const diff = "index,instruction_difficulty\n0,-0.5\n1,1.25\n";
    const gamed = "index,preference,std_delta_len,instruction_difficulty,not_gamed_baseline,model\n0,0.7,-1.2,-0.5,False,v\n1,,0.3,1.25,False,v\n1,0.1,0.4,1.25,False,c\n";
    const ref = buildLcReference(diff, gamed, ["a", "b"], "hub@1");
    assert.deepEqual([...ref.difficultyByInstruction], [["a", -0.5], ["b", 1.25]]);
    assert.equal(ref.gamed.length, 2, "the row without a preference is left out, as AlpacaEval filters it");
    assert.throws(() => parseGamedCsv(gamed.replace("0,0.7,", "0,x,"), "g.csv"), (e: unknown) => e instanceof ValidationError && e.row === 2 && e.field === "preference");
    assert.equal(ref.note, undefined);
    const differing = buildLcReference(diff, gamed.replace("-1.2,-0.5", "-1.2,-0.4"), ["a", "b"], "hub@1");
    assert.equal(differing.difficultyByInstruction.get("a"), -0.4, "df_gamed.csv's difficulty, as AlpacaEval's fit reads it");
    assert.match(differing.note!, /differs from df_gamed.csv's instruction_difficulty at 1 instruction/);
    assert.throws(() => buildLcReference(diff, gamed, ["a", "b", "c"], "hub@1"), /2 instructions, the eval set has 3/);
  });
});
