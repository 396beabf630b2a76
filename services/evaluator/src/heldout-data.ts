// Held-out sets from the datasets prefix: SFT rows (exact-match, perplexity) and preference pairs.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { joinKey, locate, ObjectNotFoundError, type ObjectStore } from "@mambalign/core";
import { z } from "zod";
import { InvalidEvalJobError } from "./errors.js";
import type { ChatTurn, GenerationPrompt } from "./model-runner.js";

export type HeldOutKind = "sft" | "prefs";

export interface HeldOutSet {
  /** Where it came from (dataset id or uri). */
  source: string;
  kind: HeldOutKind;
  /** The job field it came from, for errors. */
  field: string;
  /** Local JSONL file with the rows (after `limit`). */
  file: string;
  rows: unknown[];
}

const turn = z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() });
const sftRow = z.object({ messages: z.array(turn).min(1) });

/** The test split of a prepared dataset (docs/architecture.md: `datasets/<sha256>/test.jsonl`). */
export function testSplitKey(datasetId: string, field: string): string {
  if (!/^[\w-]+$/.test(datasetId)) throw new InvalidEvalJobError(field, `dataset id ${JSON.stringify(datasetId)} is not a dataset version id`);
  return joinKey(`datasets/${datasetId}`, "test.jsonl", field);
}

/** Dataset ids of a StageJob field: one id or several, comma-separated. */
export function datasetIds(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

/**
 * Downloads a held-out set and decides its kind from its rows: `messages` rows are SFT, rows with
 * `chosen` and `rejected` are preference pairs. Mixed or unknown rows are rejected naming the row.
 */
export async function stageHeldOut(opts: {
  store: ObjectStore;
  /** Dataset id (read from the datasets prefix) or a uri / local path (`uri: true`). */
  source: string;
  uri: boolean;
  field: string;
  dir: string;
  limit: number;
}): Promise<HeldOutSet> {
  const { store, source, field } = opts;
  const text = opts.uri ? await readSource(store, source, field) : await readObject(store, testSplitKey(source, field), field, source);
  const rows: unknown[] = [];
  let kind: HeldOutKind | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length && (opts.limit === 0 || rows.length < opts.limit); i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (cause) {
      throw new InvalidEvalJobError(field, `${source}: row ${i + 1} is not JSON`, { cause });
    }
    const k = kindOf(row);
    if (!k) throw new InvalidEvalJobError(field, `${source}: row ${i + 1} has neither "messages" nor "chosen"/"rejected"`);
    if (kind && k !== kind) throw new InvalidEvalJobError(field, `${source}: row ${i + 1} is ${k} but earlier rows are ${kind}`);
    kind = k;
    rows.push(row);
  }
  if (!kind) throw new InvalidEvalJobError(field, `${source}: the held-out set is empty`);
  const file = join(opts.dir, `heldout-${kind}-${source.replace(/[^\w.-]/g, "_").slice(-40)}.jsonl`);
  await writeFile(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return { source, kind, field, file, rows };
}

function kindOf(row: unknown): HeldOutKind | undefined {
  if (typeof row !== "object" || row === null) return undefined;
  if (Array.isArray((row as { messages?: unknown }).messages)) return "sft";
  if ("chosen" in row && "rejected" in row) return "prefs";
  return undefined;
}

async function readObject(store: ObjectStore, key: string, field: string, source: string): Promise<string> {
  try {
    return (await store.get(key)).toString("utf8");
  } catch (err) {
    if (err instanceof ObjectNotFoundError) {
      throw new InvalidEvalJobError(field, `dataset ${source} has no held-out split (${key} not found)`, { cause: err });
    }
    throw err;
  }
}

/** An s3:// or file:// uri in our store, or a local path (the embedded default). */
async function readSource(store: ObjectStore, source: string, field: string): Promise<string> {
  let loc;
  try {
    loc = locate(store, source, field);
  } catch (cause) {
    throw new InvalidEvalJobError(field, `${source} is not in this object store: ${(cause as Error).message}`, { cause });
  }
  if (loc.kind === "store") return readObject(store, loc.key, field, source);
  try {
    return await readFile(source, "utf8");
  } catch (cause) {
    throw new InvalidEvalJobError(field, `cannot read ${source}: ${(cause as Error).message}`, { cause });
  }
}

export interface ExactMatchItem {
  prompt: GenerationPrompt;
  answer: string;
}

/** Prompt = every turn before the last assistant message; answer = that message's content. */
export function exactMatchItems(set: HeldOutSet): ExactMatchItem[] {
  const field = set.field;
  return set.rows.map((raw, i) => {
    const r = sftRow.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new InvalidEvalJobError(field, `${set.source}: row ${i + 1}: ${issue.path.join(".") || "(row)"}: ${issue.message}`);
    }
    const messages: ChatTurn[] = r.data.messages;
    const last = messages.at(-1)!;
    if (last.role !== "assistant" || messages.length < 2) {
      throw new InvalidEvalJobError(field, `${set.source}: row ${i + 1}: the last message must be the assistant's reference answer after a prompt`);
    }
    return { prompt: { id: `em-${i + 1}`, messages: messages.slice(0, -1) }, answer: last.content };
  });
}

/** Exact match after trimming surrounding whitespace. */
export function isExactMatch(output: string, answer: string): boolean {
  return output.trim() === answer.trim();
}
