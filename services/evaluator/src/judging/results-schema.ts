import { z } from "zod";
import type { AlpacaEvalScores } from "./alpaca-eval-score.js";
import type { MtBenchScores } from "./mt-bench-score.js";

/** Metric name of the length-only adjustment reported when AlpacaEval's LC cannot be computed. */
export const LENGTH_ADJUSTED_METRIC = "length_adjusted_win_rate_no_difficulty";

/** Identifies the results format in `evals/<eval_id>/results.json`. */
export const EVAL_RESULTS_SCHEMA_ID = "mambalign.eval-results.v1";

const num = z.number();
const nullableNum = z.number().nullable();

export const mtBenchScoresSchema = z.object({
  model: z.string(),
  overall: nullableNum,
  perTurn: z.record(z.string(), nullableNum),
  perCategory: z.record(z.string(), nullableNum),
  nJudgments: num,
  nScored: num,
  nUnparsable: num,
  judges: z.array(z.string()),
  judgeSnapshots: z.array(z.string()),
});

export const lengthControlledSchema = z.object({
  winRate: num,
  coefficients: z.object({ length: num, model: num, instructionDifficulty: num }),
  C: num,
  nFitted: num,
  nPredicted: num,
  nGamed: num,
  lengthDifferenceSd: num,
  source: z.string(),
});

export const lengthAdjustedSchema = z.object({
  winRate: num,
  coefficients: z.object({ length: num, model: num }),
  C: num,
  nFitted: num,
  nPredicted: num,
  lengthDifferenceSd: num,
});

const LEGACY_LC_NOTE = "the stored figure came from an earlier mambalign fit (ridge, no instruction difficulty), which was not AlpacaEval's LC";

export const alpacaEvalScoresSchema = z.preprocess(
  (v) => {
    // Results written before LC followed AlpacaEval (marked by `usedInstructionDifficulty`): that figure is not LC.
    const s = v as { lengthControlled?: { usedInstructionDifficulty?: unknown } | null } | null;
    if (s && typeof s === "object" && s.lengthControlled && typeof s.lengthControlled === "object" && "usedInstructionDifficulty" in s.lengthControlled) {
      return { ...s, lengthControlled: null, lengthControlledSkipped: LEGACY_LC_NOTE };
    }
    return v;
  },
  z.object({
    model: z.string(),
    baseline: z.string(),
    winRate: nullableNum,
    standardError: nullableNum,
    discreteWinRate: nullableNum,
    nWins: num,
    nWinsBase: num,
    nDraws: num,
    nTotal: num,
    nDropped: num,
    nMissingOutputs: num,
    avgLength: nullableNum,
    /** AlpacaEval's length-controlled win rate; null unless computed as AlpacaEval does. */
    lengthControlled: lengthControlledSchema.nullable(),
    lengthControlledSkipped: z.string().optional(),
    /** Length-only GLM adjustment when LC could not be computed; not comparable with AlpacaEval's LC. */
    lengthAdjustedNoDifficulty: lengthAdjustedSchema.nullable().optional(),
  }),
);

export const alpacaEvalResultSchema = z.object({
  scores: alpacaEvalScoresSchema,
  /** The judge model requested and the snapshots the endpoint reported. */
  judgeModel: z.string().optional(),
  judgeSnapshots: z.array(z.string()).default([]),
  /** Seed of the output-order randomisation. */
  orderSeed: z.string().optional(),
});

/** One evaluated model (base, an SFT or DPO adapter version). */
export const evalEntrySchema = z.object({
  /** Short name shown in charts: "base", "sft", "dpo", or a version. */
  label: z.string().min(1),
  versionId: z.string().optional(),
  mtBench: mtBenchScoresSchema.optional(),
  alpacaEval: z.object({ v1: alpacaEvalResultSchema.optional(), v2: alpacaEvalResultSchema.optional() }).default({}),
  /** Judge-free metrics (`eval/preference_accuracy`, `eval/perplexity`, `exact_match/<task>`). */
  metrics: z.record(z.string(), z.number()).default({}),
});

export const evalResultsSchema = z.object({
  schema: z.literal(EVAL_RESULTS_SCHEMA_ID),
  createdAt: z.string(),
  title: z.string().default("mambalign evaluation"),
  entries: z.array(evalEntrySchema).min(1),
});

export type EvalResults = z.infer<typeof evalResultsSchema>;
export type EvalResultsInput = z.input<typeof evalResultsSchema>;
export type EvalEntry = z.infer<typeof evalEntrySchema>;
export type AlpacaEvalResult = z.infer<typeof alpacaEvalResultSchema>;

// Compile-time guarantee that the scorers' results fit the schema.
const _mt: z.infer<typeof mtBenchScoresSchema> = null as unknown as MtBenchScores;
const _ae: z.infer<typeof alpacaEvalScoresSchema> = null as unknown as AlpacaEvalScores;
void _mt;
void _ae;

/** Validates results JSON (from S3 or a file), filling defaults; errors name the field. */
export function parseEvalResults(value: unknown): EvalResults {
  return evalResultsSchema.parse(value);
}

/**
 * Flat `<group>/<quantity>` metrics of one entry, for the registry's Evaluation.metrics map:
 * mt_bench/overall, mt_bench/turn_1, mt_bench/<category>, alpaca_eval_v1/win_rate, alpaca_eval_v2/lc_win_rate, ...
 * `lc_win_rate` is only ever AlpacaEval's LC; without its difficulty data the length-only adjustment is stored as
 * `length_adjusted_win_rate_no_difficulty`.
 */
export function flattenEvalMetrics(entry: EvalEntry): Record<string, number> {
  const out: Record<string, number> = { ...entry.metrics };
  const mt = entry.mtBench;
  if (mt) {
    if (mt.overall !== null) out["mt_bench/overall"] = mt.overall;
    for (const [t, v] of Object.entries(mt.perTurn)) if (v !== null) out[`mt_bench/turn_${t}`] = v;
    for (const [c, v] of Object.entries(mt.perCategory)) if (v !== null) out[`mt_bench/${c}`] = v;
    out["mt_bench/n_unparsable"] = mt.nUnparsable;
  }
  for (const version of ["v1", "v2"] as const) {
    const s = entry.alpacaEval[version]?.scores;
    if (!s) continue;
    const g = `alpaca_eval_${version}`;
    if (s.winRate !== null) out[`${g}/win_rate`] = s.winRate;
    if (s.standardError !== null) out[`${g}/standard_error`] = s.standardError;
    if (s.lengthControlled) out[`${g}/lc_win_rate`] = s.lengthControlled.winRate;
    else if (s.lengthAdjustedNoDifficulty) out[`${g}/${LENGTH_ADJUSTED_METRIC}`] = s.lengthAdjustedNoDifficulty.winRate;
    if (s.avgLength !== null) out[`${g}/avg_length`] = s.avgLength;
    out[`${g}/n_total`] = s.nTotal;
    out[`${g}/n_dropped`] = s.nDropped;
  }
  return out;
}
