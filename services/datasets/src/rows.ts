// Row formats: validation and normalisation of one JSONL row of an SFT or preference dataset.
import { z } from "zod";
import { DatasetKind } from "@mambalign/core";

export const ROLES = ["system", "user", "assistant"] as const;

export interface Message {
  role: (typeof ROLES)[number];
  content: string;
}

const missingOr = (what: string) => (iss: { input?: unknown }) => (iss.input === undefined ? "missing" : what);

const messageSchema = z.object(
  {
    role: z.enum(ROLES, { error: missingOr(`must be one of ${ROLES.join(", ")}`) }),
    content: z.string({ error: missingOr("must be a string") }),
  },
  { error: missingOr('must be an object {"role", "content"}') },
);
const messagesSchema = z
  .array(messageSchema, { error: missingOr("must be a list of messages") })
  .min(1, "must not be empty");

/** A row that cannot be used; `reason` names the field at fault. */
export type RowResult = { ok: true; row: Record<string, unknown> } | { ok: false; reason: string };

function parseMessages(value: unknown, field: string): Message[] | string {
  const r = messagesSchema.safeParse(value);
  if (r.success) return r.data.map((m) => ({ role: m.role, content: m.content }));
  const issue = r.error.issues[0];
  const at = (issue?.path ?? []).map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  return `${field}${at}: ${issue?.message ?? "invalid"}`;
}

/** The fields other than `known`, in their original order (UltraFeedback's prompt_id, scores, ...). */
function extras(obj: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !known.includes(k)));
}

/** The format a row looks like, or null when it is neither. */
export function detectKind(obj: Record<string, unknown>): DatasetKind | null {
  if ("messages" in obj) return DatasetKind.DATASET_KIND_SFT;
  if ("chosen" in obj && "rejected" in obj) return DatasetKind.DATASET_KIND_PREFERENCE;
  return null;
}

/** SFT: `{"messages": [{role, content}, ...]}` with at least one assistant turn. */
export function normaliseSft(obj: Record<string, unknown>): RowResult {
  const messages = parseMessages(obj.messages, "messages");
  if (typeof messages === "string") return { ok: false, reason: messages };
  if (!messages.some((m) => m.role === "assistant")) return { ok: false, reason: "messages: has no assistant turn" };
  return { ok: true, row: { messages, ...extras(obj, ["messages"]) } };
}

function sameMessage(a: Message | undefined, b: Message | undefined): boolean {
  return !!a && !!b && a.role === b.role && a.content === b.content;
}

/** The completion part of a conversation that may repeat the prompt (UltraFeedback-binarized does). */
function stripPrompt(prompt: Message[], conversation: Message[]): Message[] {
  if (conversation.length > prompt.length && prompt.every((m, i) => sameMessage(m, conversation[i]))) {
    return conversation.slice(prompt.length);
  }
  // A string prompt becomes one user turn; the conversation repeats it as its first message.
  if (prompt.length === 1 && sameMessage(prompt[0], conversation[0])) return conversation.slice(1);
  return conversation;
}

/**
 * Preference (UltraFeedback-binarized shape): `prompt` (string or messages, optional when
 * `chosen` holds the whole conversation), `chosen` and `rejected` (whole conversations or
 * only the assistant answer). Normalised to `{prompt: [...], chosen: [answer], rejected:
 * [answer], ...other fields}`: the prompt once, each completion without it.
 */
export function normalisePreference(obj: Record<string, unknown>): RowResult {
  const chosen = parseMessages(obj.chosen, "chosen");
  if (typeof chosen === "string") return { ok: false, reason: chosen };
  const rejected = parseMessages(obj.rejected, "rejected");
  if (typeof rejected === "string") return { ok: false, reason: rejected };
  let prompt: Message[];
  if (obj.prompt === undefined || obj.prompt === null) {
    const last = chosen.findLastIndex((m) => m.role === "assistant");
    if (last <= 0) return { ok: false, reason: "prompt: missing, and chosen has no turns before its assistant answer" };
    prompt = chosen.slice(0, last);
  } else if (typeof obj.prompt === "string") {
    if (obj.prompt === "") return { ok: false, reason: "prompt: must not be empty" };
    prompt = [{ role: "user", content: obj.prompt }];
  } else {
    const p = parseMessages(obj.prompt, "prompt");
    if (typeof p === "string") return { ok: false, reason: p };
    prompt = p;
  }
  const completions: Record<string, Message[]> = {};
  for (const [key, conversation] of [
    ["chosen", chosen],
    ["rejected", rejected],
  ] as const) {
    const completion = stripPrompt(prompt, conversation);
    if (completion.at(-1)?.role !== "assistant") {
      return { ok: false, reason: `${key}: does not end with an assistant answer after the prompt` };
    }
    completions[key] = completion;
  }
  return {
    ok: true,
    row: { prompt, chosen: completions.chosen, rejected: completions.rejected, ...extras(obj, ["prompt", "chosen", "rejected"]) },
  };
}

/**
 * Parses and normalises one JSONL line. `kind` UNSPECIFIED means "not known yet": the row's
 * own shape decides, and `kind` in the result says which it was.
 */
export function normaliseLine(line: string, kind: DatasetKind): RowResult & { kind?: DatasetKind } {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return { ok: false, reason: "not a JSON object" };
  const record = obj as Record<string, unknown>;
  const k = kind === DatasetKind.DATASET_KIND_UNSPECIFIED ? detectKind(record) : kind;
  if (k === DatasetKind.DATASET_KIND_SFT) return { ...normaliseSft(record), kind: k };
  if (k === DatasetKind.DATASET_KIND_PREFERENCE) return { ...normalisePreference(record), kind: k };
  return {
    ok: false,
    reason: 'unknown format: expected "messages" (SFT) or "chosen" and "rejected" (preference)',
  };
}
