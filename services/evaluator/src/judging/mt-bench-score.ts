import { z } from "zod";
import { ValidationError } from "./errors.js";
import { parseJsonl, readTextFile } from "./jsonl.js";
import { formatTextTable } from "./text-table.js";
import { categoriesById, loadMtBenchQuestions, MT_BENCH_CATEGORIES } from "./mt-bench-data.js";

/** What scoring needs from a judgment row (FastChat's format; other fields are ignored). */
export const mtBenchJudgmentRowSchema = z.object({
  question_id: z.number().int(),
  model: z.string(),
  judge: z.union([z.array(z.string()), z.string()]).optional(),
  score: z.number(),
  turn: z.number().int().min(1),
  judge_snapshot: z.string().optional(),
});
export type MtBenchJudgmentRow = z.infer<typeof mtBenchJudgmentRowSchema>;

export interface MtBenchScores {
  model: string;
  /** Mean of all scored judgments, both turns (FastChat's "Second turn"/"First turn"/overall table). Null when none scored. */
  overall: number | null;
  perTurn: Record<string, number | null>;
  /** Mean over both turns per category; empty when categories are unknown (no question file). */
  perCategory: Record<string, number | null>;
  nJudgments: number;
  nScored: number;
  /** Judgments whose rating could not be parsed (score -1): excluded from the means. */
  nUnparsable: number;
  judges: string[];
  judgeSnapshots: string[];
}

/**
 * Scores judgments per model. A score of -1 (FastChat's "unparsable") is excluded and counted.
 * `categories` (question id -> category) enables per-category means; a judgment for a question it lacks is an error.
 */
export function scoreMtBench(judgments: MtBenchJudgmentRow[], categories?: Map<number, string>): MtBenchScores[] {
  const byModel = new Map<string, MtBenchJudgmentRow[]>();
  judgments.forEach((j, i) => {
    if (categories && !categories.has(j.question_id)) {
      throw new ValidationError(`judgment ${i + 1}: question_id ${j.question_id} is not in the question file`, { row: i + 1, field: "question_id" });
    }
    const list = byModel.get(j.model) ?? [];
    list.push(j);
    byModel.set(j.model, list);
  });
  const out = [...byModel].map(([model, rows]) => {
    const scored = rows.filter((r) => r.score !== -1);
    const perTurn: Record<string, number | null> = {};
    for (const t of [...new Set(rows.map((r) => r.turn))].sort((a, b) => a - b)) {
      perTurn[String(t)] = mean(scored.filter((r) => r.turn === t).map((r) => r.score));
    }
    const perCategory: Record<string, number | null> = {};
    if (categories) {
      const present = new Set(rows.map((r) => categories.get(r.question_id)!));
      // Canonical MT-Bench order first, then any custom categories.
      const order = [...MT_BENCH_CATEGORIES.filter((c) => present.has(c)), ...[...present].filter((c) => !(MT_BENCH_CATEGORIES as readonly string[]).includes(c)).sort()];
      for (const c of order) perCategory[c] = mean(scored.filter((r) => categories.get(r.question_id) === c).map((r) => r.score));
    }
    return {
      model,
      overall: mean(scored.map((r) => r.score)),
      perTurn,
      perCategory,
      nJudgments: rows.length,
      nScored: scored.length,
      nUnparsable: rows.length - scored.length,
      judges: [...new Set(rows.map((r) => (Array.isArray(r.judge) ? r.judge[0] : r.judge)).filter((x): x is string => !!x))].sort(),
      judgeSnapshots: [...new Set(rows.map((r) => r.judge_snapshot).filter((x): x is string => !!x))].sort(),
    };
  });
  // FastChat's show_result sorts models by score, best first.
  return out.sort((a, b) => (b.overall ?? -Infinity) - (a.overall ?? -Infinity));
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

export interface MtBenchFileScoreOptions {
  /** FastChat's question.jsonl: enables per-category scores. */
  questionsPath?: string;
  /** Keep only these models. */
  models?: string[];
}

export interface MtBenchFileScoreResult {
  scores: MtBenchScores[];
  summary: string;
}

/** `mambalign eval mt-bench-score --judgments FILE`: scores a FastChat single-answer judgment JSONL file. */
export async function scoreMtBenchJudgmentsFile(path: string, options: MtBenchFileScoreOptions = {}): Promise<MtBenchFileScoreResult> {
  let rows = parseJsonl(await readTextFile(path, "MT-Bench judgments"), mtBenchJudgmentRowSchema, path);
  if (options.models?.length) {
    const keep = new Set(options.models);
    rows = rows.filter((r) => keep.has(r.model));
    if (!rows.length) throw new ValidationError(`${path}: no judgments for model(s) ${options.models.join(", ")}`, { key: path, field: "model" });
  }
  const categories = options.questionsPath ? categoriesById(await loadMtBenchQuestions(options.questionsPath)) : undefined;
  const scores = scoreMtBench(rows, categories);
  return { scores, summary: formatMtBenchSummary(scores) };
}

const fmt = (x: number | null | undefined): string => (x === null || x === undefined ? "-" : x.toFixed(2));

/** Plain-text tables: one row per model with overall, per-turn and counts, then per category when known. */
export function formatMtBenchSummary(scores: MtBenchScores[]): string {
  const turns = [...new Set(scores.flatMap((s) => Object.keys(s.perTurn)))].sort();
  const cats = [...new Set(scores.flatMap((s) => Object.keys(s.perCategory)))];
  const parts = [
    "MT-Bench (single-answer grading, 1-10)",
    formatTextTable(
      ["model", "overall", ...turns.map((t) => `turn ${t}`), "scored", "unparsable"],
      scores.map((s) => [s.model, fmt(s.overall), ...turns.map((t) => fmt(s.perTurn[t])), String(s.nScored), String(s.nUnparsable)]),
    ),
  ];
  if (cats.length) parts.push("", formatTextTable(["model", ...cats], scores.map((s) => [s.model, ...cats.map((c) => fmt(s.perCategory[c]))])));
  const judges = [...new Set(scores.flatMap((s) => [...s.judges, ...s.judgeSnapshots]))];
  if (judges.length) parts.push("", `judge: ${judges.join(", ")}`);
  return parts.join("\n");
}
