import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { sha256Hex } from "@mambalign/core";
import { canonicalJson } from "../src/judging/canonical-json.js";

/**
 * A deterministic OpenAI-compatible judge on a loopback port, for tests and for running the whole pipeline
 * without a paid judge. It reads the benchmark prompts and answers by fixed rules:
 *  - MT-Bench single grading: "Rating: [[n]]" with n = min(10, 1 + floor(chars / 50)) of the judged answer;
 *    an answer containing `RATE=<n>` gets n, `RATE_BACKUP=<n>` gets FastChat's fallback "[n]", `NO_RATING` gets no rating.
 *  - AlpacaEval ranking (v1): the longer answer ranks 1 (model_1 on a tie).
 *  - AlpacaEval weighted (v2): first token "m" or "M" with top_logprobs where
 *    P(m) = s((len(first) - len(second)) / 200) over m/M, the longer output preferred.
 * It can fail each distinct request with a planned sequence of statuses first, and hold responses to
 * observe a client's concurrency.
 */
export interface LocalJudgeServerOptions {
  /** The `model` reported in responses; default "<requested model>-local-0001". */
  snapshot?: string;
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  /** Statuses each distinct request body gets, in order, before it succeeds (e.g. 429 then 500). */
  failuresPerRequest?: { status: number; retryAfter?: string }[];
  /** Holds every response until `inFlight` requests are open at once, or `total` requests have arrived. */
  hold?: { inFlight: number; total: number };
}

export interface LocalJudgeServer {
  /** Base URL for JudgeClient, ending in /v1. */
  baseUrl: string;
  stats(): { requests: number; succeeded: number; failed: number; maxInFlight: number; authorizationsSeen: number };
  close(): Promise<void>;
}

export async function startLocalJudgeServer(options: LocalJudgeServerOptions = {}): Promise<LocalJudgeServer> {
  const counters = { requests: 0, succeeded: 0, failed: 0, maxInFlight: 0, authorizationsSeen: 0 };
  let inFlight = 0;
  const failuresSeen = new Map<string, number>();
  const waiting: (() => void)[] = [];

  const release = (): void => {
    for (const w of waiting.splice(0)) w();
  };
  const gate = (): Promise<void> => {
    const h = options.hold;
    if (!h) return Promise.resolve();
    if (inFlight >= h.inFlight || counters.requests >= h.total) {
      release();
      return Promise.resolve();
    }
    return new Promise((resolve) => waiting.push(resolve));
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: Error) => send(res, 500, { error: { message: err.message } }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) return send(res, 404, { error: { message: "not found" } });
    if (req.headers.authorization) counters.authorizationsSeen++;
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return send(res, 401, { error: { message: "invalid api key" } });
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
      model: string;
      messages: { role: string; content: string }[];
      logprobs?: boolean;
      top_logprobs?: number;
    };
    counters.requests++;
    inFlight++;
    counters.maxInFlight = Math.max(counters.maxInFlight, inFlight);
    try {
      await gate();
      const key = sha256Hex(canonicalJson(body));
      const plan = options.failuresPerRequest ?? [];
      const seen = failuresSeen.get(key) ?? 0;
      if (seen < plan.length) {
        failuresSeen.set(key, seen + 1);
        counters.failed++;
        const f = plan[seen]!;
        const headers: Record<string, string> = f.retryAfter !== undefined ? { "retry-after": f.retryAfter } : {};
        return send(res, f.status, { error: { message: `planned failure ${seen + 1}` } }, headers);
      }
      const answer = judge(body.messages.map((m) => m.content).join("\n"));
      if (!answer) return send(res, 400, { error: { message: "the local judge does not know this prompt" } });
      counters.succeeded++;
      const choice: Record<string, unknown> = { index: 0, message: { role: "assistant", content: answer.content }, finish_reason: "stop" };
      if (body.logprobs && answer.top) {
        choice.logprobs = { content: [{ token: answer.content, logprob: Math.max(...answer.top.map((t) => t.logprob)), top_logprobs: answer.top.slice(0, body.top_logprobs ?? 5) }] };
      }
      send(res, 200, { id: `chatcmpl-${key.slice(0, 12)}`, object: "chat.completion", model: options.snapshot ?? `${body.model}-local-0001`, choices: [choice] });
    } finally {
      inFlight--;
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    stats: () => ({ ...counters }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        release();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

interface LocalAnswer {
  content: string;
  top?: { token: string; logprob: number }[];
}

function between(text: string, start: string, end: string, from = 0): { value: string; next: number } | null {
  const a = text.indexOf(start, from);
  if (a < 0) return null;
  const b = text.indexOf(end, a + start.length);
  if (b < 0) return null;
  return { value: text.slice(a + start.length, b), next: b + end.length };
}

function judge(prompt: string): LocalAnswer | null {
  if (prompt.includes("[[rating]]")) {
    const single = between(prompt, "[The Start of Assistant's Answer]\n", "\n[The End of Assistant's Answer]");
    // Multi-turn: the judged answer is the assistant's last turn.
    const conv = between(prompt, "<|The Start of Assistant A's Conversation with User|>", "<|The End of Assistant A's Conversation with User|>");
    let answer = single?.value;
    if (answer === undefined && conv) {
      const parts = conv.value.split("### Assistant A:\n");
      answer = parts[parts.length - 1]!.trim();
    }
    if (answer === undefined) return null;
    if (answer.includes("NO_RATING")) return { content: "I cannot judge this answer." };
    const backup = /RATE_BACKUP=(\d+)/.exec(answer);
    if (backup) return { content: `Some explanation. Rating: [${backup[1]}]` };
    const forced = /RATE=(\d+(?:\.\d+)?)/.exec(answer);
    const rating = forced ? Number(forced[1]) : Math.min(10, 1 + Math.floor([...answer].length / 50));
    return { content: `The answer was assessed. Rating: [[${rating}]]` };
  }
  if (prompt.includes('"model": "model_1"')) {
    const a = between(prompt, '"answer": """', '"""');
    const b = a && between(prompt, '"answer": """', '"""', a.next);
    if (!a || !b) return null;
    const firstWins = [...a.value].length >= [...b.value].length;
    return {
      content: firstWins
        ? "[{'model': 'model_1', 'rank': 1}, {'model': 'model_2', 'rank': 2}]"
        : "[{'model': 'model_1', 'rank': 2}, {'model': 'model_2', 'rank': 1}]",
    };
  }
  if (prompt.includes('"model_identifier": "m"')) {
    const a = between(prompt, '"output": """', '"""');
    const b = a && between(prompt, '"output": """', '"""', a.next);
    if (!a || !b) return null;
    const z = ([...a.value].length - [...b.value].length) / 200;
    const logPm = -Math.log1p(Math.exp(-z));
    const logPM = -Math.log1p(Math.exp(z));
    return {
      content: logPm >= logPM ? "m" : "M",
      top: [
        { token: "m", logprob: logPm },
        { token: "M", logprob: logPM },
        { token: "Both", logprob: -20 },
      ].sort((x, y) => y.logprob - x.logprob),
    };
  }
  return null;
}
