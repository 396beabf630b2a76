import { readFile } from "node:fs/promises";
import type { z } from "zod";
import { ValidationError } from "./errors.js";

/** Reads a file whole; a missing file is a ValidationError naming the path. */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw new ValidationError(`${what}: cannot read ${path}: ${(cause as Error).message}`, { key: path }, { cause });
  }
}

/** Parses JSON Lines (blank lines skipped) and validates each row; errors name the file, the 1-based line and the field. */
export function parseJsonl<T>(text: string, schema: z.ZodType<T>, source: string): T[] {
  const rows: T[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      throw new ValidationError(`${source}: line ${i + 1} is not JSON`, { key: source, row: i + 1 }, { cause });
    }
    rows.push(validateRow(value, schema, source, i + 1, "line"));
  }
  return rows;
}

/** Parses a JSON array or, failing that, JSON Lines: AlpacaEval writes arrays, other tools write lines. */
export function parseJsonArrayOrLines<T>(text: string, schema: z.ZodType<T>, source: string): T[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[")) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (cause) {
      throw new ValidationError(`${source}: not valid JSON`, { key: source }, { cause });
    }
    return (value as unknown[]).map((v, i) => validateRow(v, schema, source, i + 1, "row"));
  }
  return parseJsonl(text, schema, source);
}

export function validateRow<T>(value: unknown, schema: z.ZodType<T>, source: string, row: number, unit: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join(".");
  throw new ValidationError(`${source}: ${unit} ${row}: ${field || "(row)"}: ${issue.message}`, { key: source, row, field });
}
