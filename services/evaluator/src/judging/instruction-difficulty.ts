import { ValidationError } from "./errors.js";
import { readTextFile } from "./jsonl.js";

/**
 * Reads AlpacaEval's `instruction_difficulty.csv` (header, then `<index>,<difficulty>` rows, index = position of the
 * instruction in the 805-row eval set) and keys it by instruction text using the reference outputs' order, for
 * the length-controlled GLM's difficulty term.
 */
export function parseInstructionDifficultyCsv(text: string, instructions: string[], source: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (i === 0 || !line) return; // header
    const [idx, value] = line.split(",");
    const index = Number(idx);
    const d = Number(value);
    if (!Number.isInteger(index) || !Number.isFinite(d)) {
      throw new ValidationError(`${source}: line ${i + 1}: expected "<index>,<difficulty>", got ${JSON.stringify(line)}`, { key: source, row: i + 1 });
    }
    const instruction = instructions[index];
    if (instruction === undefined) {
      throw new ValidationError(`${source}: line ${i + 1}: index ${index} is outside the ${instructions.length} instructions`, { key: source, row: i + 1 });
    }
    out.set(instruction, d);
  });
  return out;
}

export async function loadInstructionDifficulty(path: string, instructions: string[]): Promise<Map<string, number>> {
  return parseInstructionDifficultyCsv(await readTextFile(path, "instruction difficulty"), instructions, path);
}
