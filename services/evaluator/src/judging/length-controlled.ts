import { fitL1LogisticRegression, sigmoid } from "./logistic-regression.js";

/**
 * AlpacaEval's length-controlled win rate, `length_controlled_v1` (Dubois et al. 2024, arXiv:2404.04475; the
 * procedure of alpaca_eval/metrics/glm_winrate.py, re-implemented here). For one model against one baseline:
 *
 *   P(model preferred)_i = s( th_len * tanh(d_i / sd(d))  +  th_diff * difficulty_i  +  th_model * not_gamed_i )
 *
 *  - d_i = len(output_1) - len(output_2) in characters (baseline minus model), sd the sample sd over the model's rows;
 *  - difficulty_i: AlpacaEval's per-instruction difficulty (Hub dataset tatsu-lab/alpaca_eval, fitted once over its
 *    leaderboard); not_gamed_i = 1 for the model's rows;
 *  - the fit also sees AlpacaEval's two length-gamed baselines (the `df_gamed.csv` rows, not_gamed = 0, their own
 *    standardised length difference), each row at weight 0.2 / 2, which anchors th_len;
 *  - y_i = preference - 1 in [0, 1] (a 0, AlpacaEval's old tie code, counts as 1.5); rows without a preference or
 *    without both outputs are left out of the fit;
 *  - no intercept; L1 penalty with C chosen from 10 values (10^-4 .. 10^4, log-spaced) by 5-fold cross-validation
 *    grouped by row, scored by the weighted soft-label log loss, then refitted on all rows with the chosen C.
 *
 * LC = 100 * mean over ALL the model's rows of s(th_diff * difficulty_i + th_model): the prediction with the length
 * difference set to zero. A model compared with itself gets 50 by construction.
 *
 * Without the difficulty table the same GLM minus difficulty and gamed rows (tanh length term + model term) still
 * removes the length effect, but it is not AlpacaEval's LC and is reported under another name (`LengthAdjusted`).
 */
export interface LengthControlRow {
  /** Preference in [1, 2] (ties 1.5), null when the annotation has none: then only predicted, not fitted. */
  preference: number | null;
  /** Character lengths of output_1 (baseline) and output_2 (model); null when the output is missing. */
  baselineLength: number | null;
  modelLength: number | null;
  /** Instruction difficulty; required for LC, ignored for the no-difficulty adjustment. */
  difficulty?: number;
}

/** One row of AlpacaEval's `df_gamed.csv`: an annotation of a length-gamed baseline. */
export interface GamedBaselineRow {
  /** Preference already in [0, 1]. */
  preference: number;
  stdDeltaLen: number;
  difficulty: number;
}

export interface LengthControlledResult {
  /** Percent. */
  winRate: number;
  coefficients: { length: number; model: number; instructionDifficulty: number };
  /** Inverse L1 strength chosen by cross-validation. */
  C: number;
  /** Model rows fitted / predicted over. */
  nFitted: number;
  nPredicted: number;
  /** Gamed-baseline rows in the fit. */
  nGamed: number;
  /** sd of the length differences used to standardise them. */
  lengthDifferenceSd: number;
}

/** The length-only adjustment used when no difficulty table is at hand: not comparable with AlpacaEval's LC. */
export interface LengthAdjustedResult {
  winRate: number;
  coefficients: { length: number; model: number };
  C: number;
  nFitted: number;
  nPredicted: number;
  lengthDifferenceSd: number;
}

export type GlmOutcome<T> = { result: T; skipped?: undefined } | { result: null; skipped: string };

/** AlpacaEval's `length_controlled_v1` settings. */
export const LC_V1 = {
  gamedWeight: 0.2 / 2,
  folds: 5,
  Cs: Array.from({ length: 10 }, (_, i) => 10 ** (-4 + (8 * i) / 9)),
  logLossEpsilon: 1e-15,
};

/** AlpacaEval LC of one model. `isBaseline`: the model is its own baseline (LC 50). */
export function lengthControlledWinRate(rows: LengthControlRow[], gamed: GamedBaselineRow[], options: { isBaseline?: boolean } = {}): GlmOutcome<LengthControlledResult> {
  const missing = rows.findIndex((r) => r.difficulty === undefined || !Number.isFinite(r.difficulty));
  if (missing >= 0) return { result: null, skipped: `row ${missing + 1} has no instruction difficulty` };
  if (!gamed.length) return { result: null, skipped: "no gamed-baseline rows" };
  const prep = standardise(rows);
  if ("skipped" in prep) return { result: null, skipped: prep.skipped };
  if (options.isBaseline) {
    return { result: { winRate: 50, coefficients: { length: 0, model: 0, instructionDifficulty: 0 }, C: 0, nFitted: 0, nPredicted: rows.length, nGamed: gamed.length, lengthDifferenceSd: prep.sd } };
  }
  // Gamed rows first, then the model's, as AlpacaEval concatenates them (the order fixes the CV folds).
  const X: number[][] = gamed.map((g) => [Math.tanh(g.stdDeltaLen), g.difficulty, 0]);
  const y: number[] = gamed.map((g) => g.preference);
  const w: number[] = gamed.map(() => LC_V1.gamedWeight);
  for (const f of prep.fitted) {
    X.push([Math.tanh(f.std), rows[f.i]!.difficulty!, 1]);
    y.push(f.y);
    w.push(1);
  }
  const { coefficients: b, C } = fitCrossValidated(X, y, w);
  const [thLen, thDiff, thModel] = b as [number, number, number];
  const winRate = mean(rows.map((r) => sigmoid(thDiff * r.difficulty! + thModel))) * 100;
  return {
    result: {
      winRate,
      coefficients: { length: thLen, model: thModel, instructionDifficulty: thDiff },
      C,
      nFitted: prep.fitted.length,
      nPredicted: rows.length,
      nGamed: gamed.length,
      lengthDifferenceSd: prep.sd,
    },
  };
}

/** The same GLM without instruction difficulty and gamed baselines; what is reported when LC cannot be computed. */
export function lengthAdjustedWinRate(rows: LengthControlRow[], options: { isBaseline?: boolean } = {}): GlmOutcome<LengthAdjustedResult> {
  const prep = standardise(rows);
  if ("skipped" in prep) return { result: null, skipped: prep.skipped };
  if (options.isBaseline) return { result: { winRate: 50, coefficients: { length: 0, model: 0 }, C: 0, nFitted: 0, nPredicted: rows.length, lengthDifferenceSd: prep.sd } };
  const X = prep.fitted.map((f) => [Math.tanh(f.std), 1]);
  const y = prep.fitted.map((f) => f.y);
  const { coefficients: b, C } = fitCrossValidated(X, y, y.map(() => 1));
  const [thLen, thModel] = b as [number, number];
  return { result: { winRate: sigmoid(thModel) * 100, coefficients: { length: thLen, model: thModel }, C, nFitted: prep.fitted.length, nPredicted: rows.length, lengthDifferenceSd: prep.sd } };
}

interface Prepared {
  sd: number;
  fitted: { i: number; std: number; y: number }[];
}

/** Length differences standardised by their sample sd over rows with both outputs; the rows the GLM is fitted on. */
function standardise(rows: LengthControlRow[]): Prepared | { skipped: string } {
  const deltas = rows.map((r) => (r.baselineLength === null || r.modelLength === null ? null : r.baselineLength - r.modelLength));
  const present = deltas.filter((d): d is number => d !== null);
  if (present.length < 2) return { skipped: `needs at least 2 annotations with both outputs, got ${present.length}` };
  const sd = sampleSd(present);
  if (!(sd > 0)) return { skipped: "the length differences between outputs have no spread" };
  const fitted: Prepared["fitted"] = [];
  rows.forEach((r, i) => {
    const d = deltas[i];
    if (d === null || d === undefined || r.preference === null) return;
    fitted.push({ i, std: d / sd, y: r.preference - 1 });
  });
  if (fitted.length < LC_V1.folds) return { skipped: `needs at least ${LC_V1.folds} annotations with a preference and both outputs, got ${fitted.length}` };
  return { sd, fitted };
}

/**
 * scikit-learn's LogisticRegressionCV as AlpacaEval configures it: GroupKFold over rows (both copies of a
 * soft-labelled row in one fold), each C fitted on the other folds and scored by the weighted soft-label log loss on
 * the held-out fold, the C with the best summed score (first on ties) refitted on everything.
 */
function fitCrossValidated(X: number[][], y: number[], w: number[]): { coefficients: number[]; C: number } {
  const fold = groupKFoldAssignment(X.length, LC_V1.folds);
  let best = { score: -Infinity, C: LC_V1.Cs[0]! };
  for (const C of LC_V1.Cs) {
    let score = 0;
    for (let k = 0; k < LC_V1.folds; k++) {
      const train = X.map((_, i) => i).filter((i) => fold[i] !== k);
      const test = X.map((_, i) => i).filter((i) => fold[i] === k);
      const fit = fitL1LogisticRegression(
        train.map((i) => X[i]!),
        train.map((i) => y[i]!),
        { weights: train.map((i) => w[i]!), C },
      );
      score -= softLogLoss(test.map((i) => X[i]!), test.map((i) => y[i]!), test.map((i) => w[i]!), fit.coefficients);
    }
    if (score > best.score) best = { score, C };
  }
  return { coefficients: fitL1LogisticRegression(X, y, { weights: w, C: best.C }).coefficients, C: best.C };
}

/**
 * Fold of each row under scikit-learn's GroupKFold when every group (row) has the same size: groups taken in
 * reverse order, each to the currently lightest fold, i.e. round-robin from the last row.
 */
export function groupKFoldAssignment(n: number, folds: number): number[] {
  return Array.from({ length: n }, (_, i) => (n - 1 - i) % folds);
}

/** Mean over rows of -w * (y log q + (1 - y) log(1 - q)), q clipped to [eps, 1 - eps]. */
function softLogLoss(X: number[][], y: number[], w: number[], b: number[]): number {
  const eps = LC_V1.logLossEpsilon;
  let s = 0;
  X.forEach((x, i) => {
    const q = Math.min(Math.max(sigmoid(x.reduce((acc, v, j) => acc + v * b[j]!, 0)), eps), 1 - eps);
    s -= w[i]! * (y[i]! * Math.log(q) + (1 - y[i]!) * Math.log(1 - q));
  });
  return s / X.length;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function sampleSd(xs: number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}
