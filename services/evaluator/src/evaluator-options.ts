import { fileURLToPath } from "node:url";
import { hubOptionsFromEnv, parseHubId } from "@mambalign/datasets";
import type { LcDataSettings } from "./alpaca-eval-lc-data.js";
import { judgeInputFromEnv, type JudgeClientInput, LC_DATASET } from "./judging/index.js";

/**
 * MT-Bench and AlpacaEval files shipped with this package (services/evaluator/benchmarks, in the
 * image too): one level above src/ and dist/ alike, so the evaluator finds them with no setting.
 */
export const SHIPPED_BENCH_DATA_DIR = fileURLToPath(new URL("../benchmarks", import.meta.url));

/** Judge endpoint settings; the model is chosen per benchmark (override, else the benchmark's own judge). */
export type JudgeSettings = Omit<JudgeClientInput, "model" | "cache" | "logger"> & {
  /** MAMBALIGN_JUDGE_MODEL: one judge model for every benchmark; undefined keeps each benchmark's default. */
  model: string | undefined;
};

/** Everything the evaluator needs besides ServiceDeps, resolved once at start-up (loadEvaluatorOptions). */
export interface EvaluatorOptions {
  /** MAMBALIGN_BENCH_DATA_DIR: folder with mt_bench/ and alpaca_eval/ files (default: SHIPPED_BENCH_DATA_DIR; EvalArgs may name another). */
  benchDataDir: string;
  /** Judge endpoint; undefined when none is configured (benchmarks are then skipped with a warning). */
  judge: JudgeSettings | undefined;
  /** Extra environment for the runtime process (tests: PYTHONPATH, OMP_NUM_THREADS). */
  runtimeEnv: Record<string, string>;
  /** Lease on a running eval job before JetStream redelivers it; heartbeats renew it (default 60 s). */
  ackWaitMs: number;
  /** Deliveries before a job that keeps failing retryably is given up (default 3). */
  maxDeliver: number;
  /** Redelivery delay after a retryable failure (default 5 s doubling to 60 s). */
  retryBackoff: { initialMs: number; maxMs: number };
  /**
   * MAMBALIGN_ALPACA_EVAL_LC_DATASET (default tatsu-lab/alpaca_eval, `org/name@revision` allowed, "off" = null):
   * the Hub dataset with AlpacaEval's instruction difficulty and gamed baselines, fetched through the Hub settings
   * (MAMBALIGN_HF_ENDPOINT, HF_TOKEN). Without it AlpacaEval 2.0 gets no LC, only a differently named adjustment.
   */
  alpacaEvalLc: LcDataSettings | null;
}

export const EVALUATOR_DEFAULTS = {
  ackWaitMs: 60_000,
  // 5+10+20+40+60+60+60 s: a store, judge or NATS outage of about 4 minutes costs no stage.
  maxDeliver: 8,
  retryBackoff: { initialMs: 5_000, maxMs: 60_000 },
} as const;

/**
 * Reads the evaluator's environment: MAMBALIGN_BENCH_DATA_DIR (unset: the shipped files) and the judge
 * (MAMBALIGN_JUDGE_BASE_URL, MAMBALIGN_JUDGE_MODEL, MAMBALIGN_JUDGE_API_KEY or OPENAI_API_KEY,
 * MAMBALIGN_JUDGE_CONCURRENCY, MAMBALIGN_JUDGE_MAX_RETRIES). A judge counts as configured when a
 * base URL or an API key is set.
 */
export function loadEvaluatorOptions(env: NodeJS.ProcessEnv = process.env): EvaluatorOptions {
  const configured = Boolean(env.MAMBALIGN_JUDGE_BASE_URL || env.MAMBALIGN_JUDGE_API_KEY || env.OPENAI_API_KEY);
  let judge: JudgeSettings | undefined;
  if (configured) {
    const { model, ...rest } = judgeInputFromEnv(env, "");
    judge = { ...rest, model: model || undefined };
  }
  return {
    benchDataDir: env.MAMBALIGN_BENCH_DATA_DIR || SHIPPED_BENCH_DATA_DIR,
    judge,
    runtimeEnv: {},
    ackWaitMs: EVALUATOR_DEFAULTS.ackWaitMs,
    maxDeliver: EVALUATOR_DEFAULTS.maxDeliver,
    retryBackoff: { ...EVALUATOR_DEFAULTS.retryBackoff },
    alpacaEvalLc: lcDataFromEnv(env),
  };
}

function lcDataFromEnv(env: NodeJS.ProcessEnv): LcDataSettings | null {
  const raw = (env.MAMBALIGN_ALPACA_EVAL_LC_DATASET ?? LC_DATASET.repo).trim();
  if (raw === "off") return null;
  const id = parseHubId(raw);
  if (!id) throw new Error(`MAMBALIGN_ALPACA_EVAL_LC_DATASET: expected org/name[@revision] or "off", got ${JSON.stringify(raw.slice(0, 120))}`);
  return { hub: hubOptionsFromEnv(env), repo: id.repo, revision: id.revision };
}
