import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BusUnavailableError } from "./errors.js";
import { JOB_WORKER_DEFAULTS } from "./job-worker.js";
import { decideSettlement, retryWindowMs } from "./settle.js";

describe("settle — retries", () => {
  it("a retryable failure is retried with growing delays, then terminated when deliveries run out", () => {
    const b = { initialMs: 1_000, maxMs: 3_000 };
    const err = new BusUnavailableError("store unavailable");
    assert.deepEqual(decideSettlement(err, true, 1, 3, b), { kind: "nak", delayMs: 1_000 });
    assert.deepEqual(decideSettlement(err, true, 2, 3, b), { kind: "nak", delayMs: 2_000 });
    assert.equal(decideSettlement(err, true, 3, 3, b).kind, "term");
    assert.equal(retryWindowMs(3, b), 3_000);
  });

  it("the default job worker rides out a 60 s store outage (a 45 s one ended stages for good)", () => {
    assert.ok(retryWindowMs(JOB_WORKER_DEFAULTS.maxDeliver, JOB_WORKER_DEFAULTS.retryBackoff) >= 120_000);
  });
});
