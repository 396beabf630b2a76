import { fitLogisticRegression, sigmoid } from "./logistic-regression.js";

/**
 * Length-controlled win rate, after AlpacaEval's `length_controlled_v1` GLM (Dubois et al. 2024, arXiv:2404.04475;
 * alpaca_eval/metrics/glm_winrate.py). For each annotation i of one model against one baseline:
 *
 *   P(model preferred)_i = s( th_len * tanh(d_i / sd(d))  +  th_diff * difficulty_i  +  th_model )
 *
 * with d_i = len(output_1) - len(output_2) in characters (baseline minus model), sd the sample standard deviation
 * over the rows, y_i = preference - 1 in [0, 1] (a tie is 0.5), no other intercept. The LC win rate is the mean
 * predicted preference with the length term zeroed:  100 * mean_i s(th_diff * difficulty_i + th_model).
 *
 * Differences from AlpacaEval, all from data it ships and we do not:
 *  - instruction difficulty: AlpacaEval uses per-instruction values fitted once over its whole leaderboard
 *    (`instruction_difficulty.csv`). Pass them (by instruction) to use that term; without them the term is
 *    dropped and LC = 100 * s(th_model).
 *  - regularisation: AlpacaEval picks an L1 strength by 5-fold cross-validation and adds annotations of two
 *    length-gamed baselines at weight 0.2. We use a fixed ridge penalty (l2 / 2)|th|^2 on all coefficients,
 *    default l2 = 1 (scikit-learn's default C = 1), which keeps the fit finite when all preferences agree.
 */
export interface LengthControlRow {
  /** AlpacaEval preference in [1, 2]; ties already mapped to 1.5. */
  preference: number;
  baselineLength: number;
  modelLength: number;
  difficulty?: number;
}

export interface LengthControlledResult {
  /** Percent. */
  winRate: number;
  coefficients: { length: number; model: number; instructionDifficulty?: number };
  /** Rows fitted. */
  n: number;
  /** sd of the length differences used to standardise them. */
  lengthDifferenceSd: number;
  l2: number;
  usedInstructionDifficulty: boolean;
  converged: boolean;
}

export const LC_DEFAULT_L2 = 1;

/** Fits the GLM; returns null with a reason when the rows cannot support it (too few, no length spread). */
export function lengthControlledWinRate(
  rows: LengthControlRow[],
  options: { l2?: number } = {},
): { result: LengthControlledResult; skipped?: undefined } | { result: null; skipped: string } {
  const l2 = options.l2 ?? LC_DEFAULT_L2;
  if (rows.length < 2) return { result: null, skipped: `needs at least 2 annotations with both outputs, got ${rows.length}` };
  const useDifficulty = rows.every((r) => r.difficulty !== undefined);
  const deltas = rows.map((r) => r.baselineLength - r.modelLength);
  const sd = sampleSd(deltas);
  if (!(sd > 0)) return { result: null, skipped: "the length differences between outputs have no spread" };
  const X = rows.map((r, i) => {
    const x = [Math.tanh(deltas[i]! / sd), 1];
    if (useDifficulty) x.push(r.difficulty!);
    return x;
  });
  const y = rows.map((r) => r.preference - 1);
  const fit = fitLogisticRegression(X, y, { l2 });
  const [thLen, thModel, thDiff] = fit.coefficients as [number, number, number | undefined];
  const predicted = rows.map((r) => sigmoid(thModel + (useDifficulty ? thDiff! * r.difficulty! : 0)));
  const coefficients: LengthControlledResult["coefficients"] = { length: thLen, model: thModel };
  if (useDifficulty) coefficients.instructionDifficulty = thDiff!;
  return {
    result: {
      winRate: (100 * predicted.reduce((a, b) => a + b, 0)) / predicted.length,
      coefficients,
      n: rows.length,
      lengthDifferenceSd: sd,
      l2,
      usedInstructionDifficulty: useDifficulty,
      converged: fit.converged,
    },
  };
}

function sampleSd(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}
