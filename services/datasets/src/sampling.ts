// Deterministic row selection: the dataset_mixer fraction per source and the train/test split.
// Both depend only on the seed and each row's content hash, never on Math.random or time,
// so preparing the same input again gives byte-identical splits.
import { createHash } from "node:crypto";

/** A number in [0, 1) from the sha256 of `parts` (52 bits: exact in a double). */
export function unitHash(...parts: (string | number)[]): number {
  const hex = createHash("sha256").update(parts.join("\u0000")).digest("hex");
  return parseInt(hex.slice(0, 13), 16) / 2 ** 52;
}

export interface HashedRow {
  /** 1-based line number in its source. */
  row: number;
  /** sha256 of the normalised row. */
  hash: string;
}

/**
 * Keeps round(fraction * n) rows (at least one when fraction > 0) chosen by seed, in their
 * original order. fraction 0 or 1 keeps everything (proto: 0 means 1.0).
 */
export function mixSource<T extends HashedRow>(rows: T[], fraction: number, seed: number, sourceIndex: number): T[] {
  if (fraction === 0 || fraction >= 1) return rows;
  const keep = Math.max(1, Math.round(fraction * rows.length));
  const ranked = rows
    .map((r, i) => ({ i, score: unitHash("mix", seed, sourceIndex, r.row, r.hash) }))
    .sort((a, b) => a.score - b.score || a.i - b.i)
    .slice(0, keep)
    .map((x) => x.i)
    .sort((a, b) => a - b);
  return ranked.map((i) => rows[i] as T);
}

/**
 * Whether a row goes to the test split. Decided by its content hash, so identical rows land
 * in the same split (no train/test leakage through duplicates).
 */
export function isTestRow(hash: string, seed: number, testFraction: number): boolean {
  return testFraction > 0 && unitHash("split", seed, hash) < testFraction;
}
