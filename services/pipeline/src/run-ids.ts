// Names the pipeline gives things: request ids (client-chosen), run ids, job ids, KV keys, object keys.
import { randomBytes } from "node:crypto";
import { ApiError, type Stage, stageName } from "@mambalign/core";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** A client's idempotency key: 1-128 of [A-Za-z0-9._-]; INVALID_ARGUMENT naming request_id otherwise. */
export function validateRequestId(requestId: string): string {
  if (!REQUEST_ID.test(requestId)) {
    const why = requestId === "" ? "is required" : `${JSON.stringify(requestId.slice(0, 140))} must be 1-128 of A-Z a-z 0-9 . _ -`;
    throw ApiError.invalidArgument("request_id", why);
  }
  return requestId;
}

/**
 * KV key `req.<request_id>` of the idempotency record. A NATS KV key may not hold an empty token
 * (`..`) or end in `.`, so dots in the id are written as `=2E`; `=` is not a request-id character,
 * so the mapping is one-to-one.
 */
export function requestKey(requestId: string): string {
  return `req.${validateRequestId(requestId).replaceAll(".", "=2E")}`;
}

export const REQUEST_KEY_PREFIX = "req.";

/** `<name>-<yyyymmdd-hhmmss>-<6 hex>`: sortable by time, readable, one NATS subject token. */
export function newRunId(recipeName: string, now: Date): string {
  const slug = recipeName.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "run";
  const ts = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${slug}-${ts}-${randomBytes(3).toString("hex")}`;
}

/** `<run_id>.<stage>.<attempt>`: stable, so a republished job is deduplicated by Nats-Msg-Id. */
export function jobId(runId: string, stage: Stage, attempt: number): string {
  return `${runId}.${stageName(stage)}.${attempt}`;
}

/** Objects of a run under the pipeline's own prefix. */
export const runObjectKeys = (runId: string) => ({
  recipeYaml: `runs/${runId}/recipe.yaml`,
  recipeJson: `runs/${runId}/recipe.json`,
});
