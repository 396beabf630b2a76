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
  /** Something about the files worth showing beside the figure. */
  note?: string;
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

/**
 * Gamed-baseline rows with a preference (AlpacaEval leaves rows without one out of the fit), how many lacked one, and
 * the difficulty of each index as first listed (AlpacaEval's fit reads it from here: `drop_duplicates("index")`).
 */
export function parseGamedCsv(
  text: string,
  source: string,
): { rows: (GamedBaselineRow & { index: number })[]; nNoPreference: number; difficultyByIndex: Map<number, number> } {
  const { header, rows } = csvLines(text, source);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new ValidationError(`${source}: no column ${name} (columns: ${echo(header.join(","))})`, { key: source, field: name });
    return i;
  };
  const [ci, cp, cs, cd] = [col("index"), col("preference"), col("std_delta_len"), col("instruction_difficulty")];
  const out: (GamedBaselineRow & { index: number })[] = [];
  const difficultyByIndex = new Map<number, number>();
  let nNoPreference = 0;
  for (const { line, cells } of rows) {
    const index = numberAt(cells, ci, "index", line, source);
    const difficulty = numberAt(cells, cd, "instruction_difficulty", line, source);
    if (!difficultyByIndex.has(index)) difficultyByIndex.set(index, difficulty);
    const p = (cells[cp] ?? "").trim();
    if (p === "" || p.toLowerCase() === "nan") {
      nNoPreference++;
      continue;
    }
    const preference = numberAt(cells, cp, "preference", line, source);
    if (preference < 0 || preference > 1) throw new ValidationError(`${source}: line ${line}: preference ${preference} is outside [0, 1]`, { key: source, row: line, field: "preference" });
    out.push({ index, preference, stdDeltaLen: numberAt(cells, cs, "std_delta_len", line, source), difficulty });
  }
  if (!out.length) throw new ValidationError(`${source}: no rows with a preference`, { key: source });
  return { rows: out, nNoPreference, difficultyByIndex };
}

/**
 * Joins the two files into an LcReference, keyed by instruction text through the eval set's order (`instructions`,
 * the reference outputs' instructions). Each instruction's difficulty is df_gamed.csv's, as AlpacaEval's fit reads it
 * (`get_length_controlled_winrate`); `instruction_difficulty.csv` (what its `predict_winrate` reads) fills an index
 * df_gamed.csv lacks, and a disagreement between the two is reported in `note`.
 */
export function buildLcReference(difficultyCsv: string, gamedCsv: string, instructions: string[], source: string): LcReference {
  const table = parseInstructionDifficultyCsv(difficultyCsv, `${source}/${LC_DATASET.difficultyFile}`);
  const { rows, difficultyByIndex } = parseGamedCsv(gamedCsv, `${source}/${LC_DATASET.gamedFile}`);
  if (table.size !== instructions.length) {
    throw new ValidationError(`${source}/${LC_DATASET.difficultyFile}: ${table.size} instructions, the eval set has ${instructions.length}`, { key: source });
  }
  const difficultyByInstruction = new Map<string, number>();
  let disagree = 0;
  instructions.forEach((instruction, i) => {
    const fromGamed = difficultyByIndex.get(i);
    const fromTable = table.get(i);
    if (fromGamed !== undefined && fromTable !== undefined && Math.abs(fromGamed - fromTable) > 1e-9 * Math.max(1, Math.abs(fromTable))) disagree++;
    const d = fromGamed ?? fromTable;
    if (d === undefined) throw new ValidationError(`${source}/${LC_DATASET.difficultyFile}: no row for index ${i}`, { key: source, row: i });
    difficultyByInstruction.set(instruction, d);
  });
  const reference: LcReference = { difficultyByInstruction, gamed: rows.map(({ preference, stdDeltaLen, difficulty }) => ({ preference, stdDeltaLen, difficulty })), source };
  if (disagree) reference.note = `${LC_DATASET.difficultyFile} differs from ${LC_DATASET.gamedFile}'s instruction_difficulty at ${disagree} instruction(s); ${LC_DATASET.gamedFile}'s used, as AlpacaEval's fit does`;
  return reference;
}
