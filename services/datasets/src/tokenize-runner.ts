// Tokenisation and packing run in the Python runtime (`python -m mambalign_runtime tokenize`):
// Hugging Face `tokenizers` (Rust) there is identical to what training sees by construction and,
// measured on this machine, about twice as fast as the pure-JS tokenizer (see the closing note
// of issue 7). This module runs it once for the splits of a version and reads back their statistics.
import { spawn } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { ApiError } from "@mambalign/core";
import type { Logger } from "pino";
import type { TokenizeOptions } from "./datasets-options.js";
import type { Histogram } from "./histogram-png.js";

export interface TokenStats {
  split: string;
  kind: "sft" | "preference";
  documents: number;
  tokens: number;
  truncated: number;
  truncationRate: number;
  maxLength: number;
  packing: boolean;
  assistantOnly: boolean;
  /** Fixed-length rows written (packed or padded). */
  rows: number;
  /** Shard file names in the output directory. */
  shards: string[];
  histogram: Histogram;
  tokenizerSha256: string;
  chatTemplateSha256: string;
  rowsPerSecond: number;
}

const STDERR_TAIL = 4000;

/** Tokenises `splits` (split name and normalised JSONL each) into `outDir`, in one runtime process. */
export async function tokenizeSplits(o: {
  python: string;
  tokenize: TokenizeOptions;
  splits: { split: string; input: string }[];
  outDir: string;
  /** Scratch directory outside outDir (the chat template file goes there). */
  scratch: string;
  kind: "sft" | "preference";
  logger: Logger;
}): Promise<TokenStats[]> {
  const t = o.tokenize;
  const args = ["-m", "mambalign_runtime", "tokenize", "--tokenizer", t.tokenizer, "--out", o.outDir];
  for (const s of o.splits) args.push("--input", `${s.split}=${s.input}`);
  args.push("--kind", o.kind, "--max-length", String(t.maxSeqLength));
  if (t.packing) args.push("--pack");
  if (t.assistantOnlyLoss) args.push("--assistant-only");
  if (t.chatTemplate) {
    const file = path.join(o.scratch, "chat-template.jinja");
    await fsp.writeFile(file, t.chatTemplate);
    args.push("--chat-template-file", file);
  }
  const child = spawn(o.python, args, { env: { ...process.env, PYTHONUNBUFFERED: "1", LOG_LEVEL: "WARNING" }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (c: string) => {
    stderr = (stderr + c).slice(-STDERR_TAIL);
  });
  const exited = new Promise<{ code: number | null; spawnError?: Error }>((resolve) => {
    child.once("error", (spawnError) => resolve({ code: null, spawnError }));
    child.once("close", (code) => resolve({ code }));
  });
  let error = "";
  for await (const line of createInterface({ input: child.stdout })) {
    try {
      const ev = JSON.parse(line) as { error?: { message?: string }; artifact?: { path?: string } };
      if (ev.error?.message) error = ev.error.message;
      if (ev.artifact?.path) o.logger.debug({ file: ev.artifact.path }, "tokenised shard written");
    } catch {
      // stdout carries events only; anything else is ignored (stderr has the logs).
    }
  }
  const { code, spawnError } = await exited;
  if (spawnError) {
    throw ApiError.failedPrecondition(`tokenisation: cannot start ${o.python} (MAMBALIGN_PYTHON): ${spawnError.message}`);
  }
  if (code !== 0) {
    const why = error || stderr.trim().split("\n").slice(-3).join(" | ") || `exit ${code}`;
    // Exit 2 is bad input (the tokenizer path, a template that cannot render a row): not retryable.
    throw code === 2 ? ApiError.invalidArgument("tokenizer", why) : ApiError.failedPrecondition(`tokenisation failed: ${why}`);
  }
  const stats: TokenStats[] = [];
  for (const s of o.splits) {
    const file = path.join(o.outDir, `${s.split}-tokens.json`);
    stats.push(JSON.parse(await fsp.readFile(file, "utf8")) as TokenStats);
    // The statistics live in the card; the shard directory holds shards only.
    await fsp.rm(file);
  }
  return stats;
}
