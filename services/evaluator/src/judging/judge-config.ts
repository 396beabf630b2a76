import { sleep } from "@mambalign/core";
import type { JudgeCache } from "./judge-cache.js";
import { ValidationError } from "./errors.js";

/** pino-compatible subset; the key is never passed to it. */
export interface JudgeLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Everything a JudgeClient needs, resolved once (see resolveJudgeClientOptions for the defaults). */
export interface JudgeClientOptions {
  /** OpenAI-compatible API root, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended. */
  baseUrl: string;
  /** Judge model name sent in every request (e.g. `gpt-4`, `gpt-4-1106-preview`). */
  model: string;
  /** Bearer token; omitted from the request when undefined (local servers). Never logged. */
  apiKey: string | undefined;
  /** Most requests in flight at once. Default 8. */
  concurrency: number;
  /** Retries after the first attempt on 429, 5xx and network errors. Default 6. */
  maxRetries: number;
  /** First backoff; doubles each retry, with jitter. Default 1000 ms. */
  initialBackoffMs: number;
  /** Backoff cap (Retry-After from the server is honoured up to maxRetryAfterMs instead). Default 60000 ms. */
  maxBackoffMs: number;
  /** Longest Retry-After honoured. Default 600000 ms. */
  maxRetryAfterMs: number;
  /** Per-attempt timeout. Default 120000 ms. */
  requestTimeoutMs: number;
  /** Where answers are kept so a rerun costs nothing; none when undefined. */
  cache: JudgeCache | undefined;
  logger: JudgeLogger | undefined;
  /** Waits between retries, cut short by the signal; injectable so tests can check delays without waiting. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Source of jitter in [0, 1). */
  random: () => number;
  /** Aborting ends every pending and retrying call at once (the job was stopped or its run cancelled). */
  signal: AbortSignal | undefined;
}

export type JudgeClientInput = Pick<JudgeClientOptions, "baseUrl" | "model"> & Partial<JudgeClientOptions>;

export const JUDGE_CLIENT_DEFAULTS = {
  concurrency: 8,
  maxRetries: 6,
  initialBackoffMs: 1000,
  maxBackoffMs: 60_000,
  maxRetryAfterMs: 600_000,
  requestTimeoutMs: 120_000,
} as const;

export function resolveJudgeClientOptions(input: JudgeClientInput): JudgeClientOptions {
  let url: URL;
  try {
    url = new URL(input.baseUrl);
  } catch (cause) {
    throw new ValidationError(`judge baseUrl is not a URL: ${JSON.stringify(input.baseUrl)}`, { field: "baseUrl" }, { cause });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ValidationError(`judge baseUrl must be http(s), got ${url.protocol}`, { field: "baseUrl" });
  }
  if (!input.model.trim()) throw new ValidationError("judge model is empty", { field: "model" });
  const o: JudgeClientOptions = {
    baseUrl: input.baseUrl.replace(/\/+$/, ""),
    model: input.model,
    apiKey: input.apiKey || undefined,
    concurrency: input.concurrency ?? JUDGE_CLIENT_DEFAULTS.concurrency,
    maxRetries: input.maxRetries ?? JUDGE_CLIENT_DEFAULTS.maxRetries,
    initialBackoffMs: input.initialBackoffMs ?? JUDGE_CLIENT_DEFAULTS.initialBackoffMs,
    maxBackoffMs: input.maxBackoffMs ?? JUDGE_CLIENT_DEFAULTS.maxBackoffMs,
    maxRetryAfterMs: input.maxRetryAfterMs ?? JUDGE_CLIENT_DEFAULTS.maxRetryAfterMs,
    requestTimeoutMs: input.requestTimeoutMs ?? JUDGE_CLIENT_DEFAULTS.requestTimeoutMs,
    cache: input.cache,
    logger: input.logger,
    sleep: input.sleep ?? ((ms, signal) => sleep(ms, signal ?? new AbortController().signal)),
    random: input.random ?? Math.random,
    signal: input.signal,
  };
  for (const f of ["concurrency", "maxRetries", "initialBackoffMs", "maxBackoffMs", "maxRetryAfterMs", "requestTimeoutMs"] as const) {
    const v = o[f];
    if (!Number.isInteger(v) || v < 0 || (f === "concurrency" && v < 1)) {
      throw new ValidationError(`judge ${f} must be a ${f === "concurrency" ? "positive" : "non-negative"} integer, got ${v}`, { field: f });
    }
  }
  return o;
}

/**
 * Judge settings from the environment, for callers that resolve their config at start-up:
 * MAMBALIGN_JUDGE_BASE_URL (default https://api.openai.com/v1), MAMBALIGN_JUDGE_MODEL (default `defaultModel`),
 * MAMBALIGN_JUDGE_API_KEY or else OPENAI_API_KEY, MAMBALIGN_JUDGE_CONCURRENCY (8), MAMBALIGN_JUDGE_MAX_RETRIES (6).
 */
export function judgeInputFromEnv(env: Record<string, string | undefined>, defaultModel: string): JudgeClientInput {
  const int = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n)) throw new ValidationError(`${name} must be an integer, got ${JSON.stringify(raw)}`, { field: name });
    return n;
  };
  const input: JudgeClientInput = {
    baseUrl: env.MAMBALIGN_JUDGE_BASE_URL || "https://api.openai.com/v1",
    model: env.MAMBALIGN_JUDGE_MODEL || defaultModel,
    apiKey: env.MAMBALIGN_JUDGE_API_KEY || env.OPENAI_API_KEY || undefined,
  };
  const concurrency = int("MAMBALIGN_JUDGE_CONCURRENCY");
  const maxRetries = int("MAMBALIGN_JUDGE_MAX_RETRIES");
  if (concurrency !== undefined) input.concurrency = concurrency;
  if (maxRetries !== undefined) input.maxRetries = maxRetries;
  return input;
}
