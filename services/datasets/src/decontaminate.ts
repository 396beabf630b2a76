// Decontamination: training rows whose prompts contain an evaluation prompt (MT-Bench turns,
// AlpacaEval instructions) are removed. Measured by word n-grams: a row is contaminated when it
// contains at least `threshold` of some eval prompt's distinct n-grams. An eval prompt shorter
// than n words matches only a turn with exactly its words (a short prompt such as "hi" would
// otherwise match every row that says hi). Words are lower-cased runs of letters and digits,
// so punctuation and spacing changes do not hide a copy.
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { ApiError } from "@mambalign/core";

export interface DecontaminationConfig {
  /** Directory with mt_bench/question.jsonl and alpaca_eval/*.json. */
  dir: string;
  ngram: number;
  threshold: number;
}

export const DEFAULT_NGRAM = 8;
export const DEFAULT_THRESHOLD = 0.5;

export interface EvalPrompt {
  /** e.g. "mt_bench:81:turn1", "alpaca_eval:17". */
  id: string;
  text: string;
}

export interface Contamination {
  evalId: string;
  /** Fraction of that eval prompt's n-grams found in the row. */
  overlap: number;
}

export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function grams(ws: string[], n: number): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + n <= ws.length; i++) out.add(ws.slice(i, i + n).join(" "));
  return out;
}

/** Reads the eval prompts of a benchmark data directory; errors name the file at fault. */
export async function loadEvalPrompts(dir: string): Promise<{ prompts: EvalPrompt[]; files: string[] }> {
  const prompts: EvalPrompt[] = [];
  const files: string[] = [];
  const mt = path.join(dir, "mt_bench", "question.jsonl");
  const alpacaDir = path.join(dir, "alpaca_eval");
  const mtText = await fsp.readFile(mt, "utf8").catch(() => null);
  if (mtText !== null) {
    files.push("mt_bench/question.jsonl");
    for (const [i, line] of mtText.split("\n").entries()) {
      if (!line.trim()) continue;
      let q: { question_id?: unknown; turns?: unknown };
      try {
        q = JSON.parse(line) as typeof q;
      } catch {
        throw ApiError.failedPrecondition(`decontamination: ${mt} line ${i + 1} is not JSON`, { key: mt, row: i + 1 });
      }
      if (!Array.isArray(q.turns)) throw ApiError.failedPrecondition(`decontamination: ${mt} line ${i + 1} has no "turns" list`, { key: mt, row: i + 1 });
      q.turns.forEach((t, j) => typeof t === "string" && prompts.push({ id: `mt_bench:${String(q.question_id)}:turn${j + 1}`, text: t }));
    }
  }
  const alpacaFiles = (await fsp.readdir(alpacaDir).catch(() => [] as string[])).filter((f) => f.endsWith(".json")).sort();
  const seen = new Set<string>();
  for (const f of alpacaFiles) {
    const file = path.join(alpacaDir, f);
    let rows: unknown;
    try {
      rows = JSON.parse(await fsp.readFile(file, "utf8"));
    } catch {
      throw ApiError.failedPrecondition(`decontamination: ${file} is not JSON`, { key: file });
    }
    if (!Array.isArray(rows)) continue;
    files.push(`alpaca_eval/${f}`);
    rows.forEach((r: { instruction?: unknown }, i) => {
      // The reference files repeat the same 805 instructions with different outputs.
      if (typeof r?.instruction === "string" && !seen.has(r.instruction)) {
        seen.add(r.instruction);
        prompts.push({ id: `alpaca_eval:${i}`, text: r.instruction });
      }
    });
  }
  if (prompts.length === 0) {
    throw ApiError.failedPrecondition(
      `decontamination: no eval prompts in ${dir} (expected mt_bench/question.jsonl and alpaca_eval/*.json with "instruction")`,
      { key: dir },
    );
  }
  return { prompts, files };
}

/** An index of eval prompts' n-grams; `match` finds the eval prompt a row overlaps most. */
export class EvalIndex {
  private readonly byGram = new Map<string, number[]>();
  private readonly sizes: number[] = [];
  /** Prompts shorter than n words, by their joined words: matched by whole turns. */
  private readonly short = new Map<string, number>();

  constructor(
    readonly prompts: EvalPrompt[],
    readonly ngram: number,
    readonly threshold: number,
  ) {
    prompts.forEach((p, i) => {
      const ws = words(p.text);
      if (ws.length > 0 && ws.length < ngram && !this.short.has(ws.join(" "))) this.short.set(ws.join(" "), i);
      const g = grams(ws, ngram);
      this.sizes.push(g.size);
      for (const gram of g) {
        const list = this.byGram.get(gram);
        if (list) list.push(i);
        else this.byGram.set(gram, [i]);
      }
    });
  }

  /** The most-overlapped eval prompt if at least `threshold` of its grams are in `texts`, else null. */
  match(texts: string[]): Contamination | null {
    const rowGrams = new Set<string>();
    for (const t of texts) {
      const ws = words(t);
      const exact = ws.length < this.ngram ? this.short.get(ws.join(" ")) : undefined;
      if (exact !== undefined) return { evalId: this.prompts[exact]!.id, overlap: 1 };
      for (const gram of grams(ws, this.ngram)) rowGrams.add(gram);
    }
    const hits = new Map<number, number>();
    for (const gram of rowGrams) {
      for (const i of this.byGram.get(gram) ?? []) hits.set(i, (hits.get(i) ?? 0) + 1);
    }
    let best: Contamination | null = null;
    for (const [i, n] of hits) {
      const overlap = n / (this.sizes[i] ?? 1);
      if (overlap >= this.threshold && (!best || overlap > best.overlap)) best = { evalId: this.prompts[i]!.id, overlap };
    }
    return best;
  }
}

/** Loads the index for a config; checks n and threshold first, naming the option at fault. */
export async function loadEvalIndex(cfg: DecontaminationConfig): Promise<{ index: EvalIndex; files: string[] }> {
  if (!Number.isInteger(cfg.ngram) || cfg.ngram < 1) throw ApiError.invalidArgument("decontamination.ngram", `must be a whole number >= 1, got ${cfg.ngram}`);
  if (!(cfg.threshold > 0 && cfg.threshold <= 1)) throw ApiError.invalidArgument("decontamination.threshold", `must be in (0, 1], got ${cfg.threshold}`);
  const { prompts, files } = await loadEvalPrompts(cfg.dir);
  return { index: new EvalIndex(prompts, cfg.ngram, cfg.threshold), files };
}
