import { z } from "zod";
import { ValidationError } from "./errors.js";
import { parseJsonArrayOrLines, readTextFile } from "./jsonl.js";
import { formatTextTable } from "./text-table.js";
import { join } from "node:path";
import { buildLcReference, LC_DATASET, type LcReference } from "./instruction-difficulty.js";
import {
  type LengthAdjustedResult,
  lengthAdjustedWinRate,
  type LengthControlledResult,
  lengthControlledWinRate,
  type LengthControlRow,
} from "./length-controlled.js";

/** What scoring reads from an annotation (AlpacaEval's annotations format; other fields are ignored). */
export const alpacaEvalAnnotationRowSchema = z.object({
  instruction: z.string().optional(),
  output_1: z.string().nullable().optional(),
  output_2: z.string().nullable().optional(),
  generator_1: z.string().optional(),
  generator_2: z.string().optional(),
  // AlpacaEval writes NaN as null; some tools write numbers as strings.
  preference: z.union([z.number(), z.string(), z.null()]).optional(),
});
export type AlpacaEvalAnnotationRow = z.infer<typeof alpacaEvalAnnotationRowSchema>;

export interface AlpacaEvalScores {
  /** generator_2: the model compared. */
  model: string;
  /** generator_1: the baseline. */
  baseline: string;
  /** Percent; ties count half, weighted preferences count their weight (AlpacaEval's AbsoluteScoringRule). */
  winRate: number | null;
  /** Standard error of the win rate, percent (sample sd / sqrt(n)). */
  standardError: number | null;
  /** Percent, with each preference rounded to win / loss / tie first. */
  discreteWinRate: number | null;
  nWins: number;
  nWinsBase: number;
  nDraws: number;
  /** Annotations with a usable preference. */
  nTotal: number;
  /** Annotations whose preference is null, NaN or outside [1, 2]: excluded. */
  nDropped: number;
  /** Annotations missing output_1 or output_2: counted in the win rate if they have a preference, left out of the GLM fits. */
  nMissingOutputs: number;
  /** Mean length of the model's outputs in characters. */
  avgLength: number | null;
  /** AlpacaEval's length-controlled win rate (length_controlled_v1), with where its difficulty data came from. */
  lengthControlled: (LengthControlledResult & { source: string }) | null;
  /** Why there is no LC (no difficulty data, another baseline, too few rows). */
  lengthControlledSkipped?: string;
  /** When there is no LC: the length-only GLM adjustment; NOT comparable with AlpacaEval's LC. */
  lengthAdjustedNoDifficulty?: LengthAdjustedResult | null;
}

export interface AlpacaEvalScoreOptions {
  /** AlpacaEval's instruction difficulty and gamed baselines (Hub dataset tatsu-lab/alpaca_eval): needed for LC. */
  lcReference?: LcReference;
  /** Why no lcReference could be had (shown as the reason there is no LC). */
  lcUnavailable?: string;
}

/** The baseline AlpacaEval's LC (its gamed baselines and difficulty) is defined against. */
export const LC_BASELINE = "gpt4_1106_preview";

/** Maps an annotation's preference to [1, 2] (0 -> 1.5, a tie), or null when it is not one. */
export function normalizePreference(p: number | string | null | undefined): number | null {
  if (p === null || p === undefined || p === "") return null;
  const v = typeof p === "string" ? Number(p) : p;
  if (!Number.isFinite(v)) return null;
  const x = v === 0 ? 1.5 : v;
  return x >= 1 && x <= 2 ? x : null;
}

const charLength = (s: string): number => [...s].length; // code points, as Python's len()

/** Scores annotations per (baseline, model) pair, in order of first appearance. */
export function scoreAlpacaEval(annotations: AlpacaEvalAnnotationRow[], options: AlpacaEvalScoreOptions = {}): AlpacaEvalScores[] {
  const groups = new Map<string, { baseline: string; model: string; rows: AlpacaEvalAnnotationRow[] }>();
  for (const a of annotations) {
    const baseline = a.generator_1 ?? "baseline";
    const model = a.generator_2 ?? "model";
    const key = JSON.stringify([baseline, model]);
    const g = groups.get(key) ?? { baseline, model, rows: [] };
    g.rows.push(a);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => scoreGroup(g.baseline, g.model, g.rows, options));
}

function scoreGroup(baseline: string, model: string, rows: AlpacaEvalAnnotationRow[], options: AlpacaEvalScoreOptions): AlpacaEvalScores {
  const prefs: number[] = [];
  const glmRows: (LengthControlRow & { instruction: string | undefined })[] = [];
  let nMissingOutputs = 0;
  let nDraws = 0;
  const modelLengths: number[] = [];
  for (const r of rows) {
    const hasOutputs = typeof r.output_1 === "string" && typeof r.output_2 === "string";
    if (!hasOutputs) nMissingOutputs++;
    if (typeof r.output_2 === "string") modelLengths.push(charLength(r.output_2));
    const p = normalizePreference(r.preference);
    if (p === 1.5) nDraws++;
    // Every annotation is predicted over (AlpacaEval averages the counterfactual over all rows); only those with a
    // preference and both outputs are fitted.
    glmRows.push({
      instruction: r.instruction,
      preference: p,
      baselineLength: typeof r.output_1 === "string" ? charLength(r.output_1) : null,
      modelLength: typeof r.output_2 === "string" ? charLength(r.output_2) : null,
    });
    if (p !== null) prefs.push(p);
  }
  const y = prefs.map((p) => p - 1);
  const n = y.length;
  const mean = n ? y.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(y.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : NaN;
  const discrete = y.map((v): number => (v > 0.5 ? 1 : v < 0.5 ? 0 : 0.5));
  const out: AlpacaEvalScores = {
    model,
    baseline,
    winRate: n ? mean * 100 : null,
    standardError: n > 1 ? (sd / Math.sqrt(n)) * 100 : null,
    discreteWinRate: n ? (discrete.reduce((a, b) => a + b, 0) / n) * 100 : null,
    nWins: y.filter((v) => v > 0.5).length,
    nWinsBase: y.filter((v) => v < 0.5).length,
    nDraws,
    nTotal: n,
    nDropped: rows.length - n,
    nMissingOutputs,
    avgLength: modelLengths.length ? modelLengths.reduce((a, b) => a + b, 0) / modelLengths.length : null,
    lengthControlled: null,
  };
  const isBaseline = model === baseline;
  const lc = lengthControlledFor(baseline, glmRows, options, isBaseline);
  if (lc.result) {
    const ref = options.lcReference!;
    out.lengthControlled = { ...lc.result, source: ref.note ? `${ref.source} (${ref.note})` : ref.source };
    return out;
  }
  out.lengthControlledSkipped = lc.skipped;
  const adjusted = lengthAdjustedWinRate(glmRows, { isBaseline });
  out.lengthAdjustedNoDifficulty = adjusted.result;
  return out;
}

function lengthControlledFor(
  baseline: string,
  rows: (LengthControlRow & { instruction: string | undefined })[],
  options: AlpacaEvalScoreOptions,
  isBaseline: boolean,
): { result: LengthControlledResult; skipped?: undefined } | { result: null; skipped: string } {
  const ref = options.lcReference;
  if (!ref) return { result: null, skipped: options.lcUnavailable ?? "AlpacaEval's instruction difficulty and gamed baselines were not given" };
  if (baseline !== LC_BASELINE) return { result: null, skipped: `AlpacaEval's LC is defined against ${LC_BASELINE}, not ${baseline}` };
  const withDifficulty: LengthControlRow[] = [];
  for (const r of rows) {
    const difficulty = r.instruction === undefined ? undefined : ref.difficultyByInstruction.get(r.instruction);
    if (difficulty === undefined) {
      const what = r.instruction === undefined ? "an annotation without an instruction" : `instruction ${JSON.stringify(r.instruction.slice(0, 80))}`;
      return { result: null, skipped: `${what} is not in AlpacaEval's eval set (no instruction difficulty)` };
    }
    withDifficulty.push({ ...r, difficulty });
  }
  return lengthControlledWinRate(withDifficulty, ref.gamed, { isBaseline });
}

export interface AlpacaEvalFileScoreResult {
  scores: AlpacaEvalScores[];
  summary: string;
}

/**
 * `mambalign eval alpaca-score --annotations FILE [--lc-data DIR]`: scores an AlpacaEval annotations file (JSON
 * array or JSONL). `lcDataDir` holds the Hub dataset's `instruction_difficulty.csv` and `df_gamed.csv`; the
 * instructions are matched to the difficulty table by the file's row order, as AlpacaEval does, so the file must
 * hold the whole eval set in its order.
 */
export async function scoreAlpacaEvalAnnotationsFile(path: string, options: { lcDataDir?: string } = {}): Promise<AlpacaEvalFileScoreResult> {
  const rows = parseJsonArrayOrLines(await readTextFile(path, "AlpacaEval annotations"), alpacaEvalAnnotationRowSchema, path);
  if (!rows.length) throw new ValidationError(`${path}: no annotations`, { key: path });
  const scoreOptions: AlpacaEvalScoreOptions = {};
  if (options.lcDataDir) {
    const dir = options.lcDataDir;
    const [difficulty, gamed] = await Promise.all([
      readTextFile(join(dir, LC_DATASET.difficultyFile), "instruction difficulty"),
      readTextFile(join(dir, LC_DATASET.gamedFile), "gamed baselines"),
    ]);
    const first = rows[0]!;
    const order = rows.filter((r) => r.generator_1 === first.generator_1 && r.generator_2 === first.generator_2).map((r) => r.instruction ?? "");
    try {
      scoreOptions.lcReference = buildLcReference(difficulty, gamed, order, dir);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      scoreOptions.lcUnavailable = `the LC data in ${dir} does not fit these annotations: ${err.message}`;
    }
  } else {
    scoreOptions.lcUnavailable = `no AlpacaEval LC data given (--lc-data: a folder with ${LC_DATASET.difficultyFile} and ${LC_DATASET.gamedFile} from the Hub dataset ${LC_DATASET.repo})`;
  }
  const scores = scoreAlpacaEval(rows, scoreOptions);
  return { scores, summary: formatAlpacaEvalSummary(scores) };
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? "-" : x.toFixed(2));

/** Plain-text table like AlpacaEval's leaderboard print-out. */
export function formatAlpacaEvalSummary(scores: AlpacaEvalScores[]): string {
  const adjusted = scores.some((s) => s.lengthAdjustedNoDifficulty);
  const header = ["model", "baseline", "LC win rate", ...(adjusted ? ["length-adjusted (no difficulty)"] : []), "win rate", "std err", "wins", "losses", "draws", "total", "dropped", "missing", "avg length"];
  const body = scores.map((s) => [
    s.model,
    s.baseline,
    pct(s.lengthControlled?.winRate),
    ...(adjusted ? [pct(s.lengthAdjustedNoDifficulty?.winRate)] : []),
    pct(s.winRate),
    pct(s.standardError),
    String(s.nWins),
    String(s.nWinsBase),
    String(s.nDraws),
    String(s.nTotal),
    String(s.nDropped),
    String(s.nMissingOutputs),
    s.avgLength === null ? "-" : Math.round(s.avgLength).toString(),
  ]);
  const notes = scores.map((s) =>
    s.lengthControlled
      ? `${s.model}: LC as AlpacaEval's length_controlled_v1, instruction difficulty and gamed baselines from ${s.lengthControlled.source}`
      : `${s.model}: no LC win rate (${s.lengthControlledSkipped ?? "not computed"})` +
        (s.lengthAdjustedNoDifficulty ? "; the length-adjusted figure drops instruction difficulty and the gamed baselines and is not comparable with AlpacaEval's LC" : ""),
  );
  return [formatTextTable(header, body, 2), "", ...notes].join("\n");
}
