import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsJudgeCache, JudgeClient, JudgeRejectedError, JudgeUnavailableError, parseRetryAfter, type JudgeRequest } from "./index.js";
import { startLocalJudgeServer } from "../../test-support/local-judge-server.js";

const ratingRequest = (answer: string): JudgeRequest => ({
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    {
      role: "user",
      content: `Rate by "[[rating]]".\n\n[Question]\nq\n\n[The Start of Assistant's Answer]\n${answer}\n[The End of Assistant's Answer]`,
    },
  ],
  temperature: 0,
  maxTokens: 2048,
});

describe("judge client — retries", () => {
  it("retries 429 and 500, honours Retry-After, and backs off exponentially with jitter", async () => {
    const server = await startLocalJudgeServer({ failuresPerRequest: [{ status: 429, retryAfter: "2" }, { status: 500 }, { status: 503 }], snapshot: "gpt-4-0613" });
    const delays: number[] = [];
    const logs: string[] = [];
    try {
      const client = new JudgeClient({
        baseUrl: server.baseUrl,
        model: "gpt-4",
        apiKey: "sk-test-secret-123",
        initialBackoffMs: 100,
        sleep: async (ms) => void delays.push(ms),
        random: () => 0.5,
        logger: { warn: (o, m) => logs.push(JSON.stringify(o) + m), debug: (o, m) => logs.push(JSON.stringify(o) + m) },
      });
      const c = await client.complete(ratingRequest("RATE=7"));
      assert.equal(c.content, "The answer was assessed. Rating: [[7]]");
      assert.equal(c.judgeModel, "gpt-4");
      assert.equal(c.judgeSnapshot, "gpt-4-0613");
      // Retry-After: 2 s, then equal-jitter backoff: 100*2^1 -> 100 + 50, 100*2^2 -> 200 + 100.
      assert.deepEqual(delays, [2000, 150, 300]);
      assert.deepEqual(server.stats().requests, 4);
      assert.equal(client.stats().retries, 3);
      assert.equal(server.stats().authorizationsSeen, 4);
      assert.equal(logs.length, 3);
      assert.ok(!logs.join("\n").includes("sk-test-secret-123"), "the API key is never logged");
    } finally {
      await server.close();
    }
  });

  it("a stopped job's signal ends a call waiting out a Retry-After at once, and makes no further request", async () => {
    const server = await startLocalJudgeServer({ failuresPerRequest: [{ status: 503, retryAfter: "600" }] });
    const stop = new AbortController();
    try {
      // The run is cancelled just as the client starts waiting its 600 s.
      const logger = { warn: () => stop.abort(new Error("run cancelled")), debug: () => {} };
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4", logger, signal: stop.signal });
      const started = performance.now();
      await assert.rejects(client.complete(ratingRequest("x")), /run cancelled/);
      assert.ok(performance.now() - started < 5_000, "not after the Retry-After");
      await assert.rejects(client.complete(ratingRequest("y")), /run cancelled/);
      assert.equal(server.stats().requests, 1);
    } finally {
      await server.close();
    }
  });

  it("gives up after maxRetries with a retryable JudgeUnavailableError carrying the last status", async () => {
    const server = await startLocalJudgeServer({ failuresPerRequest: [{ status: 503 }, { status: 503 }, { status: 503 }] });
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4", maxRetries: 2, initialBackoffMs: 1, sleep: async () => {} });
      await assert.rejects(client.complete(ratingRequest("x")), (err: unknown) => {
        assert.ok(err instanceof JudgeUnavailableError);
        assert.equal(err.status, 503);
        assert.equal(err.retryable, true);
        assert.match(err.message, /after 3 attempts/);
        return true;
      });
      assert.equal(server.stats().requests, 3);
    } finally {
      await server.close();
    }
  });

  it("does not retry a refused request (401) and never puts the key in the error", async () => {
    const server = await startLocalJudgeServer({ apiKey: "right-key" });
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4", apiKey: "wrong-key-456", sleep: async () => assert.fail("no retry") });
      await assert.rejects(client.complete(ratingRequest("x")), (err: unknown) => {
        assert.ok(err instanceof JudgeRejectedError);
        assert.equal(err.status, 401);
        assert.equal(err.retryable, false);
        assert.ok(!err.message.includes("wrong-key-456"));
        return true;
      });
      const ok = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4", apiKey: "right-key" });
      assert.equal((await ok.complete(ratingRequest("RATE=3"))).content.endsWith("[[3]]"), true);
    } finally {
      await server.close();
    }
  });

  it("retries connection failures and reports them as unavailable", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const client = new JudgeClient({ baseUrl: `http://127.0.0.1:${port}/v1`, model: "gpt-4", maxRetries: 1, sleep: async () => {} });
    await assert.rejects(client.complete(ratingRequest("x")), (err: unknown) => err instanceof JudgeUnavailableError && /network error/.test(err.message));
    assert.equal(client.stats().httpAttempts, 2);
  });

  it("takes a 200 whose body is not JSON as a refusal, without retrying", async () => {
    const server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{not json"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as AddressInfo;
      const client = new JudgeClient({ baseUrl: `http://127.0.0.1:${port}/v1`, model: "gpt-4", sleep: async () => assert.fail("no retry") });
      await assert.rejects(client.complete(ratingRequest("x")), (err: unknown) => err instanceof JudgeRejectedError && !err.retryable && /not JSON/.test(err.message));
      assert.equal(client.stats().httpAttempts, 1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("reads Retry-After as seconds, as an HTTP date and as retry-after-ms", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(parseRetryAfter(new Headers({ "retry-after": "3" }), now), 3000);
    assert.equal(parseRetryAfter(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }), now), 5000);
    assert.equal(parseRetryAfter(new Headers({ "retry-after-ms": "250", "retry-after": "9" }), now), 250);
    assert.equal(parseRetryAfter(new Headers({}), now), undefined);
    assert.equal(parseRetryAfter(new Headers({ "retry-after": "soon" }), now), undefined);
  });
});

describe("judge client — concurrency", () => {
  it("keeps at most `concurrency` requests in flight and uses all of them", async () => {
    const total = 12;
    const server = await startLocalJudgeServer({ hold: { inFlight: 3, total } });
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4", concurrency: 3 });
      const results = await Promise.all(Array.from({ length: total }, (_, i) => client.complete(ratingRequest(`RATE=${(i % 10) + 1}`))));
      assert.equal(server.stats().maxInFlight, 3);
      assert.equal(server.stats().succeeded, total);
      assert.deepEqual(
        results.map((r) => r.content.match(/\[\[(\d+)\]\]/)?.[1]),
        Array.from({ length: total }, (_, i) => String((i % 10) + 1)),
      );
    } finally {
      await server.close();
    }
  });
});

describe("judge client — cache", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "judge-cache-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("answers a rerun from the cache without any request, keyed by judge model and request hash", async () => {
    const server = await startLocalJudgeServer({ snapshot: "gpt-4-0613" });
    try {
      const cache = new FsJudgeCache(dir);
      const requests = [1, 2, 3, 4, 5].map((n) => ratingRequest(`RATE=${n}`));
      const first = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4", cache });
      const a = await Promise.all(requests.map((r) => first.complete(r)));
      assert.equal(server.stats().requests, 5);
      assert.ok(a.every((c) => !c.cached));

      const rerun = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4", cache: new FsJudgeCache(dir) });
      const b = await Promise.all(requests.map((r) => rerun.complete(r)));
      assert.equal(server.stats().requests, 5, "a rerun makes no request");
      assert.ok(b.every((c) => c.cached));
      assert.deepEqual(b.map((c) => [c.content, c.judgeSnapshot, c.requestSha256]), a.map((c) => [c.content, c.judgeSnapshot, c.requestSha256]));
      assert.equal(rerun.stats().cacheHits, 5);
      assert.deepEqual(rerun.stats().snapshots, ["gpt-4-0613"]);

      const otherJudge = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4o", cache: new FsJudgeCache(dir) });
      assert.equal((await otherJudge.complete(requests[0]!)).cached, false, "another judge model is another key");
      assert.equal(server.stats().requests, 6);
    } finally {
      await server.close();
    }
  });
});

describe("judge client — logprobs", () => {
  it("asks for and returns the first token's top logprobs", async () => {
    const server = await startLocalJudgeServer();
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4-1106-preview" });
      const c = await client.complete({
        messages: [{ role: "user", content: `{ "model_identifier": "m", "output": """a long first output""" }, { "model_identifier": "M", "output": """short""" }` }],
        temperature: 1,
        maxTokens: 1,
        topLogprobs: 5,
      });
      assert.equal(c.content, "m");
      const top = c.topLogprobs?.[0] ?? [];
      assert.deepEqual(top.map((t) => t.token).sort(), ["Both", "M", "m"]);
      const pm = Math.exp(top.find((t) => t.token === "m")!.logprob);
      const pM = Math.exp(top.find((t) => t.token === "M")!.logprob);
      assert.ok(pm > pM);
    } finally {
      await server.close();
    }
  });
});
