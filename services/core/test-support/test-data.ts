// Reference files the tests read, all inside the repository (each folder's README gives source and licence).
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is services/core/test-support/test-data.ts; never built into dist). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** MT-Bench and AlpacaEval files: the evaluator's shipped copy (mt_bench/, alpaca_eval/). */
export const BENCH_DATA_DIR = path.join(REPO_ROOT, "services/evaluator/benchmarks");
/** The GPT-NeoX-20B tokenizer's folder (tokenizer.json) that Mamba checkpoints use. */
export const NEOX_TOKENIZER_DIR = path.join(REPO_ROOT, "test/data/tokenizer/gpt-neox-20b");
