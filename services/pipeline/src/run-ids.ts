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
 * KV key of the idempotency record in its own bucket. A NATS KV key may not hold an empty token
 * (`..`) or end in `.`, so dots in the id are written as `=2E`; `=` is not a request-id character,
 * so the mapping is one-to-one.
 */
export function requestKey(requestId: string): string {
  return `req.${validateRequestId(requestId).replaceAll(".", "=2E")}`;
}

const SLUG_MAX = 40;
/** Exactly what newRunId makes: anything else (a KV key of another kind, a typo'd subject) is not a run. */
const RUN_ID = new RegExp(`^[A-Za-z0-9][A-Za-z0-9-]{0,${SLUG_MAX - 1}}-\\d{8}-\\d{6}-[0-9a-f]{6}$`);

export function isRunId(id: string): boolean {
  return RUN_ID.test(id);
}

/**
 * A run id from a caller, checked before any store is read. Characters no run id has (a `.` of
 * another key space, a wildcard) are INVALID_ARGUMENT naming `field`; an id of run-id characters
 * but not the run-id form cannot exist, so it is NOT_FOUND like an unknown run. Echoes are bounded.
 */
export function validateRunId(id: string, field = "id"): string {
  if (id === "") throw ApiError.invalidArgument(field, "is required");
  if (isRunId(id)) return id;
  const shown = id.length > 80 ? `${JSON.stringify(id.slice(0, 80))}...` : JSON.stringify(id);
  if (/^[A-Za-z0-9-]{1,80}$/.test(id)) throw ApiError.notFound("run", id);
  throw ApiError.invalidArgument(field, `${shown} is not a run id (run ids look like demo-20260101-120000-0a1b2c)`, { key: id.slice(0, 80) });
}

/** `<name>-<yyyymmdd-hhmmss>-<6 hex>`: sortable by time, readable, one NATS subject token. */
export function newRunId(recipeName: string, now: Date): string {
  const slug = recipeName.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, SLUG_MAX) || "run";
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
