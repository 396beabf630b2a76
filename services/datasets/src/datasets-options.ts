// The datasets service's own settings, resolved once at start-up from the environment (or given
// by `mambalign up` / tests), so nothing downstream reads process.env or invents defaults.
import * as path from "node:path";
import { DatasetKind } from "@mambalign/core";
import { DEFAULT_NGRAM, DEFAULT_THRESHOLD } from "./decontaminate.js";
import type { HubOptions } from "./hub-client.js";

export interface TokenizeOptions {
  /** tokenizer.json, or a directory holding it (and tokenizer_config.json with a chat template). */
  tokenizer: string;
  /** Jinja chat template; "" = the tokenizer's own (tokenizer_config.json). */
  chatTemplate: string;
  maxSeqLength: number;
  packing: boolean;
  assistantOnlyLoss: boolean;
}

export interface DatasetsOptions {
  hub: HubOptions;
  /** Benchmark data (mt_bench/, alpaca_eval/) to decontaminate against; "" = no decontamination. */
  benchDataDir: string;
  ngram: number;
  threshold: number;
  /** Hub splits by kind; a name containing "test" feeds the test split. */
  splits: Record<"sft" | "preference" | "unspecified", string[]>;
  /** null = datasets are not tokenised at preparation (the trainer tokenises). */
  tokenize: TokenizeOptions | null;
  /** Interpreter with mambalign_runtime importable (MAMBALIGN_PYTHON). */
  python: string;
  /** Local scratch space (MAMBALIGN_WORK_DIR). */
  workDir: string;
}

export const DEFAULT_SPLITS: DatasetsOptions["splits"] = {
  sft: ["train_sft", "test_sft"],
  preference: ["train_prefs", "test_prefs"],
  unspecified: ["train", "test"],
};

export function splitsForKind(opts: DatasetsOptions, kind: DatasetKind): string[] {
  if (kind === DatasetKind.DATASET_KIND_SFT) return opts.splits.sft;
  if (kind === DatasetKind.DATASET_KIND_PREFERENCE) return opts.splits.preference;
  return opts.splits.unspecified;
}

function num(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new Error(`${name}: expected a number, got ${JSON.stringify(raw)}`);
  return v;
}

/**
 * | variable | default | meaning |
 * | MAMBALIGN_HF_ENDPOINT | https://huggingface.co | Hub base URL |
 * | HF_TOKEN | — | Hub token for gated/private datasets (never logged) |
 * | MAMBALIGN_HF_ATTEMPTS | 4 | tries per Hub request (downloads resume between tries) |
 * | MAMBALIGN_BENCH_DATA_DIR | — | eval prompts to decontaminate against (mt_bench/, alpaca_eval/) |
 * | MAMBALIGN_DECONTAM_NGRAM / _THRESHOLD | 8 / 0.5 | decontamination n-gram length and overlap |
 * | MAMBALIGN_DATASETS_TOKENIZER | — | tokenizer.json (or its directory): tokenise, pack and chart token lengths |
 * | MAMBALIGN_DATASETS_MAX_SEQ_LENGTH | 2048 | tokens per sequence / packed row |
 * | MAMBALIGN_DATASETS_PACKING | 1 | pack SFT rows (0 = pad each row) |
 * | MAMBALIGN_DATASETS_ASSISTANT_ONLY | 0 | loss on assistant turns only |
 */
export function datasetsOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DatasetsOptions {
  const tokenizer = env.MAMBALIGN_DATASETS_TOKENIZER ?? "";
  return {
    hub: hubOptionsFromEnv(env),
    benchDataDir: env.MAMBALIGN_BENCH_DATA_DIR ?? "",
    ngram: num(env, "MAMBALIGN_DECONTAM_NGRAM", DEFAULT_NGRAM),
    threshold: num(env, "MAMBALIGN_DECONTAM_THRESHOLD", DEFAULT_THRESHOLD),
    splits: DEFAULT_SPLITS,
    tokenize: tokenizer
      ? {
          tokenizer: path.resolve(tokenizer),
          chatTemplate: "",
          maxSeqLength: num(env, "MAMBALIGN_DATASETS_MAX_SEQ_LENGTH", 2048),
          packing: (env.MAMBALIGN_DATASETS_PACKING ?? "1") !== "0",
          assistantOnlyLoss: (env.MAMBALIGN_DATASETS_ASSISTANT_ONLY ?? "0") === "1",
        }
      : null,
    python: env.MAMBALIGN_PYTHON || "python3",
    workDir: path.resolve(env.MAMBALIGN_WORK_DIR || "./.mambalign/work"),
  };
}

/** The Hub client's settings (MAMBALIGN_HF_ENDPOINT, HF_TOKEN, MAMBALIGN_HF_ATTEMPTS); also read by the evaluator. */
export function hubOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): HubOptions {
  return {
    endpoint: (env.MAMBALIGN_HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, ""),
    token: env.HF_TOKEN ?? "",
    attempts: num(env, "MAMBALIGN_HF_ATTEMPTS", 4),
    backoffMs: 500,
  };
}
