import OpenAI, { APIConnectionError, APIError } from "openai";
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import pLimit, { type LimitFunction } from "p-limit";
import { z } from "zod";
import { sha256Hex } from "@mambalign/core";
import { canonicalJson } from "./canonical-json.js";
import { JudgeRejectedError, JudgeUnavailableError } from "./errors.js";
import { resolveJudgeClientOptions, type JudgeClientInput, type JudgeClientOptions } from "./judge-config.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** One judge call: the conversation and its decoding settings (the model comes from the client). */
export interface JudgeRequest {
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
  /** When set, asks for `logprobs: true` and this many `top_logprobs` per generated token. */
  topLogprobs?: number;
}

export interface TokenLogprob {
  token: string;
  logprob: number;
}

export interface JudgeCompletion {
  content: string;
  /** The model the request named. */
  judgeModel: string;
  /** The `model` the endpoint reported (its snapshot, e.g. `gpt-4-0613`). */
  judgeSnapshot: string;
  /** Per generated token, its top alternatives; undefined unless logprobs were asked for and returned. */
  topLogprobs: TokenLogprob[][] | undefined;
  finishReason: string | undefined;
  requestSha256: string;
  /** True when the answer came from the cache and no request was made. */
  cached: boolean;
}

export interface JudgeClientStats {
  /** Calls answered (from the endpoint or the cache). */
  calls: number;
  cacheHits: number;
  /** HTTP attempts made, retries included. */
  httpAttempts: number;
  retries: number;
  /** Every distinct `model` snapshot the endpoint reported. */
  snapshots: string[];
}

// The package types the answer but does not check it; an endpoint (or a cache file) may say anything.
const tokenLogprob = z.object({ token: z.string(), logprob: z.number() });
const responseSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish() }),
        finish_reason: z.string().nullish(),
        logprobs: z.object({ content: z.array(tokenLogprob.extend({ top_logprobs: z.array(tokenLogprob).optional() })).nullish() }).nullish(),
      }),
    )
    .min(1),
});

/**
 * Client for any OpenAI-compatible chat-completions endpoint, with bounded concurrency, retries and a cache.
 * The openai package makes each request; the retries stay here because its own wait between tries cannot be
 * cut short by the job's signal (a stopped job would sit out a Retry-After of minutes).
 */
export class JudgeClient {
  readonly options: JudgeClientOptions;
  private readonly openai: OpenAI;
  private readonly limit: LimitFunction;
  private readonly counters = { calls: 0, cacheHits: 0, httpAttempts: 0, retries: 0 };
  private readonly snapshots = new Set<string>();

  constructor(input: JudgeClientInput) {
    this.options = resolveJudgeClientOptions(input);
    this.limit = pLimit(this.options.concurrency);
    const o = this.options;
    this.openai = new OpenAI({
      baseURL: o.baseUrl,
      // The package insists on a key; a local server without one gets no Authorization header instead.
      apiKey: o.apiKey ?? "none",
      defaultHeaders: o.apiKey ? {} : { authorization: null },
      // Settings come from our resolved options only, never the package's own OPENAI_* environment.
      ...{ organization: null, project: null, adminAPIKey: null, webhookSecret: null },
      maxRetries: 0, // see the class comment
      timeout: o.requestTimeoutMs,
      logLevel: "off",
    });
  }

  get model(): string {
    return this.options.model;
  }

  stats(): JudgeClientStats {
    return { ...this.counters, snapshots: [...this.snapshots].sort() };
  }

  /** The request body sent for `req`, and the sha256 of its canonical JSON that keys the cache. */
  requestBody(req: JudgeRequest): { body: Record<string, unknown>; sha256: string } {
    const body: Record<string, unknown> = {
      model: this.options.model,
      messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
      temperature: req.temperature,
      max_tokens: req.maxTokens,
    };
    if (req.topLogprobs !== undefined) {
      body.logprobs = true;
      body.top_logprobs = req.topLogprobs;
    }
    return { body, sha256: sha256Hex(canonicalJson(body)) };
  }

  async complete(req: JudgeRequest): Promise<JudgeCompletion> {
    const { body, sha256 } = this.requestBody(req);
    const key = { judgeModel: this.options.model, requestSha256: sha256 };
    const hit = await this.options.cache?.get(key);
    if (hit) {
      this.counters.calls++;
      this.counters.cacheHits++;
      return this.toCompletion(hit.response, sha256, true);
    }
    const raw = await this.limit(() => this.post(body));
    const completion = this.toCompletion(raw, sha256, false);
    await this.options.cache?.put({ ...key, request: body, response: raw, storedAt: new Date().toISOString() });
    this.counters.calls++;
    return completion;
  }

  private toCompletion(raw: unknown, sha256: string, cached: boolean): JudgeCompletion {
    const parsed = responseSchema.safeParse(raw);
    if (!parsed.success) {
      throw new JudgeRejectedError(
        `judge ${this.options.baseUrl} answered JSON that is not a chat completion: ${parsed.error.issues[0]?.message ?? "invalid"} at ${parsed.error.issues[0]?.path.join(".") ?? "?"}`,
        undefined,
      );
    }
    const choice = parsed.data.choices[0]!;
    const snapshot = parsed.data.model ?? this.options.model;
    this.snapshots.add(snapshot);
    return {
      content: choice.message.content ?? "",
      judgeModel: this.options.model,
      judgeSnapshot: snapshot,
      topLogprobs: choice.logprobs?.content?.map((t) => t.top_logprobs ?? [{ token: t.token, logprob: t.logprob }]),
      finishReason: choice.finish_reason ?? undefined,
      requestSha256: sha256,
      cached,
    };
  }

  private async post(body: Record<string, unknown>): Promise<unknown> {
    const o = this.options;
    const url = `${o.baseUrl}/chat/completions`;
    for (let attempt = 0; ; attempt++) {
      o.signal?.throwIfAborted();
      this.counters.httpAttempts++;
      let failure: ReturnType<typeof transientFailure>;
      try {
        return await this.openai.chat.completions.create(body as unknown as ChatCompletionCreateParamsNonStreaming, { signal: o.signal });
      } catch (err) {
        o.signal?.throwIfAborted();
        failure = transientFailure(err, url);
      }
      if (attempt >= o.maxRetries) {
        throw new JudgeUnavailableError(`judge ${url} failed after ${attempt + 1} attempts; last: ${failure.problem}`, failure.status);
      }
      const backoff = Math.min(o.maxBackoffMs, o.initialBackoffMs * 2 ** attempt);
      // "Equal jitter": half fixed, half random, so clients that failed together do not retry together.
      const delayMs =
        failure.retryAfterMs !== undefined
          ? Math.min(failure.retryAfterMs, o.maxRetryAfterMs)
          : Math.round(backoff / 2 + (backoff / 2) * o.random());
      this.counters.retries++;
      o.logger?.warn({ judgeModel: o.model, attempt: attempt + 1, status: failure.status, delayMs, problem: failure.problem }, "judge request retried");
      await o.sleep(delayMs, o.signal);
    }
  }
}

/**
 * The one map from the openai package's errors to ours: 429, 5xx and network errors (timeouts included) pass
 * with time and are returned for a retry; any other answer is our request's fault and throws JudgeRejectedError.
 */
function transientFailure(err: unknown, url: string): { status?: number; problem: string; retryAfterMs?: number } {
  if (err instanceof APIConnectionError) {
    const cause = err.cause as (Error & { cause?: Error }) | undefined;
    return { problem: `network error: ${err.message} (${[cause?.message, cause?.cause?.message].join(": ")})` };
  }
  if (err instanceof APIError && err.status !== undefined) {
    const problem = `HTTP ${err.message}`.slice(0, 500);
    if (err.status !== 429 && err.status < 500) throw new JudgeRejectedError(`judge ${url} refused the request: ${problem}`, err.status, { cause: err });
    return { status: err.status, problem, retryAfterMs: err.headers ? parseRetryAfter(err.headers) : undefined };
  }
  if (err instanceof SyntaxError) throw new JudgeRejectedError(`judge ${url} answered with a body that is not JSON`, undefined, { cause: err });
  throw err;
}

/** `retry-after-ms` (OpenAI) or `Retry-After` in seconds or as an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.round(Number(ms));
  const ra = headers.get("retry-after");
  if (ra === null || ra.trim() === "") return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs)) return secs >= 0 ? Math.round(secs * 1000) : undefined;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
