import { z } from "zod";
import { ValidationError } from "./errors.js";
import { parseJsonArrayOrLines, readTextFile } from "./jsonl.js";
import { formatTextTable } from "./text-table.js";
import { lengthControlledWinRate, type LengthControlledResult, type LengthControlRow } from "./length-controlled.js";

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
  /** Annotations missing output_1 or output_2: counted in the win rate if they have a preference, left out of LC. */
  nMissingOutputs: number;
  /** Mean length of the model's outputs in characters. */
  avgLength: number | null;
  lengthControlled: LengthControlledResult | null;
  /** Why LC is null. */
  lengthControlledSkipped?: string;
}

export interface AlpacaEvalScoreOptions {
  /** Per-instruction difficulty (AlpacaEval's instruction_difficulty values, by instruction text) for the LC GLM. */
  instructionDifficulty?: Map<string, number>;
  /** Ridge strength of the LC GLM (default 1). */
  l2?: number;
}

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
  const lcRows: LengthControlRow[] = [];
  let nMissingOutputs = 0;
  let nDraws = 0;
  const modelLengths: number[] = [];
  for (const r of rows) {
    const hasOutputs = typeof r.output_1 === "string" && typeof r.output_2 === "string";
    if (!hasOutputs) nMissingOutputs++;
    if (typeof r.output_2 === "string") modelLengths.push(charLength(r.output_2));
    if (r.preference === 0 || r.preference === 1.5) nDraws++;
    const p = normalizePreference(r.preference);
    if (p === null) continue;
    prefs.push(p);
    if (hasOutputs) {
      const row: LengthControlRow = { preference: p, baselineLength: charLength(r.output_1!), modelLength: charLength(r.output_2!) };
      const d = options.instructionDifficulty && r.instruction !== undefined ? options.instructionDifficulty.get(r.instruction) : undefined;
      if (options.instructionDifficulty && d === undefined) {
        throw new ValidationError(`no instruction difficulty for instruction ${JSON.stringify((r.instruction ?? "").slice(0, 80))}`, {
          field: "instruction",
        });
      }
      if (d !== undefined) row.difficulty = d;
      lcRows.push(row);
    }
  }
  const y = prefs.map((p) => p - 1);
  const n = y.length;
  const mean = n ? y.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(y.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : NaN;
  const discrete = y.map((v): number => (v > 0.5 ? 1 : v < 0.5 ? 0 : 0.5));
  const lc = lengthControlledWinRate(lcRows, options.l2 === undefined ? {} : { l2: options.l2 });
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
    lengthControlled: lc.result,
  };
  if (lc.skipped !== undefined) out.lengthControlledSkipped = lc.skipped;
  return out;
}

export interface AlpacaEvalFileScoreResult {
  scores: AlpacaEvalScores[];
  summary: string;
}

/** `mambalign eval alpaca-score --annotations FILE`: scores an AlpacaEval annotations file (JSON array or JSONL). */
export async function scoreAlpacaEvalAnnotationsFile(path: string, options: AlpacaEvalScoreOptions = {}): Promise<AlpacaEvalFileScoreResult> {
  const rows = parseJsonArrayOrLines(await readTextFile(path, "AlpacaEval annotations"), alpacaEvalAnnotationRowSchema, path);
  if (!rows.length) throw new ValidationError(`${path}: no annotations`, { key: path });
  const scores = scoreAlpacaEval(rows, options);
  return { scores, summary: formatAlpacaEvalSummary(scores) };
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? "-" : x.toFixed(2));

/** Plain-text table like AlpacaEval's leaderboard print-out. */
export function formatAlpacaEvalSummary(scores: AlpacaEvalScores[]): string {
  const header = ["model", "baseline", "LC win rate", "win rate", "std err", "wins", "losses", "draws", "total", "dropped", "missing", "avg length"];
  const body = scores.map((s) => [
    s.model,
    s.baseline,
    pct(s.lengthControlled?.winRate),
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
  const lines = [formatTextTable(header, body, 2)];
  const notes = scores.filter((s) => s.lengthControlledSkipped).map((s) => `${s.model}: no LC win rate (${s.lengthControlledSkipped})`);
  const noDifficulty = scores.some((s) => s.lengthControlled && !s.lengthControlled.usedInstructionDifficulty);
  if (noDifficulty) notes.push("LC win rate fitted without instruction difficulty (no table given): s(length + model terms), length term zeroed.");
  return [...lines, ...(notes.length ? ["", ...notes] : [])].join("\n");
}
