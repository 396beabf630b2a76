// Tokenisation and packing run in the Python runtime (`python -m mambalign_runtime tokenize`):
// Hugging Face `tokenizers` (Rust) there is identical to what training sees by construction and,
// measured on this machine, about twice as fast as the pure-JS tokenizer (see the closing note
// of issue 7). This module runs it once for the splits of a version and reads back their statistics.
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { ApiError, RUNTIME_EXIT, RuntimeFailedError, runRuntime, RuntimeSpec } from "@mambalign/core";
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

const NEVER = new AbortController().signal;

/** Tokenises `splits` (split name and normalised JSONL each) into `outDir`, in one runtime process. */
export async function tokenizeSplits(o: {
  python: string;
  tokenize: TokenizeOptions;
  splits: { split: string; input: string }[];
  outDir: string;
  /** Scratch directory outside outDir (the runtime's spec goes there). */
  scratch: string;
  kind: "sft" | "preference";
  logger: Logger;
}): Promise<TokenStats[]> {
  const t = o.tokenize;
  const spec = RuntimeSpec.fromPartial({
    command: "tokenize",
    tokenizer: t.tokenizer,
    outputDir: o.outDir,
    tokenize: {
      inputs: Object.fromEntries(o.splits.map((s) => [s.split, s.input])),
      kind: o.kind,
      maxLength: t.maxSeqLength,
      pack: t.packing,
      assistantOnly: t.assistantOnlyLoss,
      chatTemplate: t.chatTemplate,
    },
  });
  try {
    await runRuntime({
      python: o.python,
      spec,
      dir: path.join(o.scratch, "tokenize"),
      env: { LOG_LEVEL: "WARNING" },
      logger: o.logger,
      signal: NEVER,
      onEvent: (ev) => {
        if (ev.kind?.$case === "artifact") o.logger.debug({ file: ev.kind.value.path }, "tokenised shard written");
      },
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    // Exit 2 is bad input (the tokenizer path, a template that cannot render a row): not retryable.
    if (err instanceof RuntimeFailedError && err.exitCode === RUNTIME_EXIT.invalid) throw ApiError.invalidArgument("tokenizer", why);
    throw ApiError.failedPrecondition(`tokenisation failed: ${why}`);
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
