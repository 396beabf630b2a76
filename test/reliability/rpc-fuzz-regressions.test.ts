// reliability — counterexamples the RPC fuzz found (rpc-fuzz.test.ts), pinned as plain tests.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiError, callUnary, createClient, EvaluatorServiceClient, status } from "@mambalign/core";
import { startEvaluatorService } from "@mambalign/evaluator";
import { type Harness, startHarness } from "../e2e/harness.js";

describe("reliability — RPC fuzz regressions", () => {
  let h: Harness;
  let evaluator: EvaluatorServiceClient;
  before(async () => {
    h = await startHarness(async (deps) => [await startEvaluatorService(deps)]);
    evaluator = createClient(EvaluatorServiceClient, h.addr);
  });
  after(async () => {
    evaluator?.close();
    await h?.stop();
  });

  test("GetEvaluation with an id longer than a KV key (1,025 characters) is INVALID_ARGUMENT naming id, not a bus error without a field", async () => {
    await assert.rejects(callUnary(evaluator.getEvaluation.bind(evaluator), { id: "a".repeat(1025), includeResults: false }, { deadlineMs: 5_000 }), (err: ApiError) => {
      assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
      assert.equal(err.details.field, "id");
      return true;
    });
    // The longest id a KV key allows is still looked up: NOT_FOUND.
    await assert.rejects(callUnary(evaluator.getEvaluation.bind(evaluator), { id: "a".repeat(1024), includeResults: false }, { deadlineMs: 5_000 }), (err: ApiError) => err.code === status.NOT_FOUND);
  });
});
