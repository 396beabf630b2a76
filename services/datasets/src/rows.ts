// Row formats: validation and normalisation of one row of an SFT or preference dataset.
// SFT rows come as `messages` (UltraChat), ShareGPT `conversations` ({from, value}) or Alpaca
// `instruction`/`input`/`output`; all become `{messages: [{role, content}], ...other fields}`.
import { z } from "zod";
import { DatasetKind } from "@mambalign/core";
import { parseJsonLine } from "./read-source.js";

export const ROLES = ["system", "user", "assistant"] as const;

/**
 * Longest message content kept (characters): ~125k tokens, far past any recipe's max_seq_length. A longer one
 * is a broken export (a whole file in one cell), quarantined rather than tokenised and cut.
 */
export const MAX_MESSAGE_CHARS = 500_000;
const TOO_LONG = `longer than ${MAX_MESSAGE_CHARS} characters`;

export interface Message {
  role: (typeof ROLES)[number];
  content: string;
}

const missingOr = (what: string) => (iss: { input?: unknown }) => (iss.input === undefined ? "missing" : what);

const messageSchema = z.object(
  {
    role: z.enum(ROLES, { error: missingOr(`must be one of ${ROLES.join(", ")}`) }),
    content: z.string({ error: missingOr("must be a string") }).max(MAX_MESSAGE_CHARS, TOO_LONG),
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

/** The format a row looks like, or null when it is none we know. */
export function detectKind(obj: Record<string, unknown>): DatasetKind | null {
  // Preference first: UltraFeedback-binarized rows also carry a `messages` column.
  if ("chosen" in obj && "rejected" in obj) return DatasetKind.DATASET_KIND_PREFERENCE;
  if ("messages" in obj || "conversations" in obj || ("instruction" in obj && "output" in obj)) return DatasetKind.DATASET_KIND_SFT;
  return null;
}

const SHAREGPT_ROLES: Record<string, Message["role"]> = {
  human: "user",
  user: "user",
  gpt: "assistant",
  assistant: "assistant",
  chatgpt: "assistant",
  system: "system",
};

/** ShareGPT `conversations: [{from, value}]` as messages, or the reason it is not one. */
function shareGptMessages(value: unknown): Message[] | string {
  if (!Array.isArray(value)) return value === undefined ? "conversations: missing" : "conversations: must be a list of turns";
  if (value.length === 0) return "conversations: must not be empty";
  const out: Message[] = [];
  for (const [i, turn] of value.entries()) {
    if (typeof turn !== "object" || turn === null) return `conversations[${i}]: must be an object {"from", "value"}`;
    const t = turn as Record<string, unknown>;
    const role = typeof t.from === "string" ? SHAREGPT_ROLES[t.from] : undefined;
    if (!role) return `conversations[${i}].from: ${t.from === undefined ? "missing" : `must be one of ${Object.keys(SHAREGPT_ROLES).join(", ")}`}`;
    if (typeof t.value !== "string") return `conversations[${i}].value: ${t.value === undefined ? "missing" : "must be a string"}`;
    if (t.value.length > MAX_MESSAGE_CHARS) return `conversations[${i}].value: ${TOO_LONG}`;
    out.push({ role, content: t.value });
  }
  return out;
}

/** Alpaca `instruction` (+ optional `input`) -> one user turn, `output` -> the assistant answer. */
function alpacaMessages(obj: Record<string, unknown>): Message[] | string {
  for (const key of ["instruction", "output"] as const) {
    if (typeof obj[key] !== "string") return `${key}: ${obj[key] === undefined ? "missing" : "must be a string"}`;
    if ((obj[key] as string).trim() === "") return `${key}: must not be empty`;
    if ((obj[key] as string).length > MAX_MESSAGE_CHARS) return `${key}: ${TOO_LONG}`;
  }
  const input = obj.input ?? "";
  if (typeof input !== "string") return "input: must be a string";
  if (input.length > MAX_MESSAGE_CHARS) return `input: ${TOO_LONG}`;
  const user = input.trim() === "" ? (obj.instruction as string) : `${obj.instruction as string}\n\n${input}`;
  return [
    { role: "user", content: user },
    { role: "assistant", content: obj.output as string },
  ];
}

/** SFT: `{"messages": [{role, content}, ...]}` with at least one assistant turn. */
export function normaliseSft(obj: Record<string, unknown>): RowResult {
  let messages: Message[] | string;
  let known: string[];
  if (!("messages" in obj) && "conversations" in obj) {
    [messages, known] = [shareGptMessages(obj.conversations), ["conversations"]];
  } else if (!("messages" in obj) && "instruction" in obj) {
    [messages, known] = [alpacaMessages(obj), ["instruction", "input", "output"]];
  } else {
    [messages, known] = [parseMessages(obj.messages, "messages"), ["messages"]];
  }
  if (typeof messages === "string") return { ok: false, reason: messages };
  if (!messages.some((m) => m.role === "assistant")) return { ok: false, reason: `${known[0]}: has no assistant turn` };
  return { ok: true, row: { messages, ...extras(obj, known) } };
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
 * Normalises one row object. `kind` UNSPECIFIED means "not known yet": the row's own shape
 * decides, and `kind` in the result says which it was.
 */
export function normaliseRecord(record: Record<string, unknown>, kind: DatasetKind): RowResult & { kind?: DatasetKind } {
  const k = kind === DatasetKind.DATASET_KIND_UNSPECIFIED ? detectKind(record) : kind;
  if (k === DatasetKind.DATASET_KIND_SFT) return { ...normaliseSft(record), kind: k };
  if (k === DatasetKind.DATASET_KIND_PREFERENCE) return { ...normalisePreference(record), kind: k };
  return {
    ok: false,
    reason:
      'unknown format: expected "messages" or ShareGPT "conversations" or Alpaca "instruction"/"output" (SFT), ' +
      'or "chosen" and "rejected" (preference)',
  };
}

/** Parses and normalises one JSONL line (see normaliseRecord). */
export function normaliseLine(line: string, kind: DatasetKind): RowResult & { kind?: DatasetKind } {
  const rec = parseJsonLine(0, line);
  if ("error" in rec) return { ok: false, reason: rec.error };
  return normaliseRecord(rec.value, kind);
}

/** The part of a normalised row that de-duplication compares (other fields such as ids are ignored). */
export function contentOf(row: Record<string, unknown>): string {
  return "messages" in row ? JSON.stringify(row.messages) : JSON.stringify([row.prompt, row.chosen, row.rejected]);
}

/** Texts a training row prompts with (user and system turns), for decontamination. */
export function promptTexts(row: Record<string, unknown>): string[] {
  const msgs = ("messages" in row ? row.messages : row.prompt) as Message[];
  return msgs.filter((m) => m.role !== "assistant").map((m) => m.content);
}
