import { ValidationError } from "./errors.js";
import type { GamedBaselineRow } from "./length-controlled.js";

/**
 * The two files of AlpacaEval's Hub dataset (tatsu-lab/alpaca_eval) that its length-controlled win rate needs:
 *  - `instruction_difficulty.csv`: header, then `<index>,<difficulty>`, index = position of the instruction in the
 *    805-row eval set (the order of the reference outputs);
 *  - `df_gamed.csv`: annotations of the two length-gamed baselines, with columns `index`, `preference` (already in
 *    [0, 1]), `std_delta_len`, `instruction_difficulty` (others, such as `model`, ignored).
 */
export const LC_DATASET = { repo: "tatsu-lab/alpaca_eval", difficultyFile: "instruction_difficulty.csv", gamedFile: "df_gamed.csv" } as const;

/** What LC needs, ready to use: difficulty by instruction text, the gamed rows, and where they came from. */
export interface LcReference {
  difficultyByInstruction: Map<string, number>;
  gamed: GamedBaselineRow[];
  /** e.g. "tatsu-lab/alpaca_eval@<commit>"; shown beside the figure. */
  source: string;
}

const MAX_ECHO = 120;
const echo = (s: string) => JSON.stringify(s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}...` : s);

/** Splits a small numeric CSV; quoted fields are not expected in these files and are refused with the line. */
function csvLines(text: string, source: string): { header: string[]; rows: { line: number; cells: string[] }[] } {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? "").split(",").map((h) => h.trim());
  const rows: { line: number; cells: string[] }[] = [];
  lines.slice(1).forEach((raw, i) => {
    if (!raw.trim()) return;
    if (raw.includes('"')) throw new ValidationError(`${source}: line ${i + 2}: quoted fields are not supported: ${echo(raw)}`, { key: source, row: i + 2 });
    rows.push({ line: i + 2, cells: raw.split(",") });
  });
  return { header, rows };
}

function numberAt(cells: string[], col: number, name: string, line: number, source: string): number {
  const v = Number(cells[col]);
  if (cells[col] === undefined || cells[col]!.trim() === "" || !Number.isFinite(v)) {
    throw new ValidationError(`${source}: line ${line}: ${name} is not a number: ${echo(cells[col] ?? "")}`, { key: source, row: line, field: name });
  }
  return v;
}

/** Difficulty by eval-set index. */
export function parseInstructionDifficultyCsv(text: string, source: string): Map<number, number> {
  const { rows } = csvLines(text, source);
  const out = new Map<number, number>();
  for (const { line, cells } of rows) {
    const index = numberAt(cells, 0, "index", line, source);
    if (!Number.isInteger(index) || index < 0) throw new ValidationError(`${source}: line ${line}: index ${index} is not a row number`, { key: source, row: line, field: "index" });
    out.set(index, numberAt(cells, 1, "instruction_difficulty", line, source));
  }
  if (!out.size) throw new ValidationError(`${source}: no rows`, { key: source });
  return out;
}

/** Gamed-baseline rows with a preference (AlpacaEval leaves rows without one out of the fit), and how many lacked one. */
export function parseGamedCsv(text: string, source: string): { rows: (GamedBaselineRow & { index: number })[]; nNoPreference: number } {
  const { header, rows } = csvLines(text, source);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new ValidationError(`${source}: no column ${name} (columns: ${echo(header.join(","))})`, { key: source, field: name });
    return i;
  };
  const [ci, cp, cs, cd] = [col("index"), col("preference"), col("std_delta_len"), col("instruction_difficulty")];
  const out: (GamedBaselineRow & { index: number })[] = [];
  let nNoPreference = 0;
  for (const { line, cells } of rows) {
    const p = (cells[cp] ?? "").trim();
    if (p === "" || p.toLowerCase() === "nan") {
      nNoPreference++;
      continue;
    }
    const preference = numberAt(cells, cp, "preference", line, source);
    if (preference < 0 || preference > 1) throw new ValidationError(`${source}: line ${line}: preference ${preference} is outside [0, 1]`, { key: source, row: line, field: "preference" });
    out.push({
      index: numberAt(cells, ci, "index", line, source),
      preference,
      stdDeltaLen: numberAt(cells, cs, "std_delta_len", line, source),
      difficulty: numberAt(cells, cd, "instruction_difficulty", line, source),
    });
  }
  if (!out.length) throw new ValidationError(`${source}: no rows with a preference`, { key: source });
  return { rows: out, nNoPreference };
}

/**
 * Joins the two files into an LcReference, keyed by instruction text through the eval set's order (`instructions`,
 * the reference outputs' instructions). The difficulty in df_gamed.csv must agree with the table: AlpacaEval's fit
 * reads it from there and its predictions from the table, so a disagreement means mismatched files.
 */
export function buildLcReference(difficultyCsv: string, gamedCsv: string, instructions: string[], source: string): LcReference {
  const byIndex = parseInstructionDifficultyCsv(difficultyCsv, `${source}/${LC_DATASET.difficultyFile}`);
  const gamedSource = `${source}/${LC_DATASET.gamedFile}`;
  const { rows } = parseGamedCsv(gamedCsv, gamedSource);
  for (const r of rows) {
    const d = byIndex.get(r.index);
    if (d === undefined || Math.abs(d - r.difficulty) > 1e-9 * Math.max(1, Math.abs(d))) {
      throw new ValidationError(`${gamedSource}: index ${r.index}: instruction_difficulty ${r.difficulty} differs from ${LC_DATASET.difficultyFile} (${d ?? "absent"})`, { key: gamedSource, field: "instruction_difficulty" });
    }
  }
  if (byIndex.size !== instructions.length) {
    throw new ValidationError(`${source}/${LC_DATASET.difficultyFile}: ${byIndex.size} instructions, the eval set has ${instructions.length}`, { key: source });
  }
  const difficultyByInstruction = new Map<string, number>();
  instructions.forEach((instruction, i) => {
    const d = byIndex.get(i);
    if (d === undefined) throw new ValidationError(`${source}/${LC_DATASET.difficultyFile}: no row for index ${i}`, { key: source, row: i });
    difficultyByInstruction.set(instruction, d);
  });
  return { difficultyByInstruction, gamed: rows.map(({ preference, stdDeltaLen, difficulty }) => ({ preference, stdDeltaLen, difficulty })), source };
}
