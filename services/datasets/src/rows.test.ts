import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DatasetKind } from "@mambalign/core";
import { normaliseLine } from "./rows.js";

const SFT = DatasetKind.DATASET_KIND_SFT;
const PREF = DatasetKind.DATASET_KIND_PREFERENCE;
const user = (content: string) => ({ role: "user", content });
const assistant = (content: string) => ({ role: "assistant", content });

function reason(line: string, kind: DatasetKind): string {
  const r = normaliseLine(line, kind);
  assert.equal(r.ok, false, `expected ${line} to be rejected`);
  return r.ok ? "" : r.reason;
}

describe("datasets rows — SFT", () => {
  it("normalises messages to {role, content} and keeps other fields", () => {
    const r = normaliseLine(JSON.stringify({ prompt_id: "p1", messages: [{ content: "hi", role: "user", extra: 1 }, assistant("yo")] }), SFT);
    assert.deepEqual(r, { ok: true, kind: SFT, row: { messages: [user("hi"), assistant("yo")], prompt_id: "p1" } });
  });

  it("names the field at fault", () => {
    assert.equal(reason(`{"messages": [{"role": "robot", "content": "x"}]}`, SFT), "messages[0].role: must be one of system, user, assistant");
    assert.equal(reason(`{"messages": [{"role": "user", "content": 3}]}`, SFT), "messages[0].content: must be a string");
    assert.equal(reason(`{"messages": [{"role": "user"}]}`, SFT), "messages[0].content: missing");
    assert.equal(reason(`{"messages": []}`, SFT), "messages: must not be empty");
    assert.equal(reason(`{"text": "hello"}`, SFT), "messages: missing");
    assert.equal(reason(`{"messages": [{"role": "user", "content": "q"}]}`, SFT), "messages: has no assistant turn");
    assert.match(reason(`{"messages": [`, SFT), /^not JSON \(syntax error/);
    assert.equal(reason(`{secret: 1}`, SFT), "not JSON (syntax error at character 2)", "the position, not the text");
    assert.equal(reason(`[1, 2]`, SFT), "not a JSON object");
  });
});

describe("datasets rows — preference (UltraFeedback-binarized shape)", () => {
  const expected = { prompt: [user("2+2?")], chosen: [assistant("4")], rejected: [assistant("5")] };

  it("full conversations, assistant-only answers and a message-list prompt normalise alike", () => {
    const shapes = [
      { prompt: "2+2?", chosen: [user("2+2?"), assistant("4")], rejected: [user("2+2?"), assistant("5")] },
      { prompt: "2+2?", chosen: [assistant("4")], rejected: [assistant("5")] },
      { prompt: [user("2+2?")], chosen: [assistant("4")], rejected: [assistant("5")] },
      { chosen: [user("2+2?"), assistant("4")], rejected: [user("2+2?"), assistant("5")] },
    ];
    for (const s of shapes) assert.deepEqual(normaliseLine(JSON.stringify(s), PREF), { ok: true, kind: PREF, row: expected });
  });

  it("keeps optional other fields", () => {
    const r = normaliseLine(JSON.stringify({ prompt: "2+2?", chosen: [assistant("4")], rejected: [assistant("5")], score_chosen: 9, prompt_id: "x" }), PREF);
    assert.deepEqual(r, { ok: true, kind: PREF, row: { ...expected, score_chosen: 9, prompt_id: "x" } });
  });

  it("names the field at fault", () => {
    assert.equal(reason(`{"prompt": "q", "chosen": "4", "rejected": [{"role": "assistant", "content": "5"}]}`, PREF), "chosen: must be a list of messages");
    assert.equal(reason(`{"prompt": "q", "chosen": [{"role": "assistant", "content": "4"}]}`, PREF), "rejected: missing");
    assert.equal(
      reason(`{"chosen": [{"role": "assistant", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]}`, PREF),
      "prompt: missing, and chosen has no turns before its assistant answer",
    );
    assert.equal(
      reason(`{"prompt": "q", "chosen": [{"role": "user", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]}`, PREF),
      "chosen: does not end with an assistant answer after the prompt",
    );
  });

  it("an unspecified kind is detected from the row's shape; an unknown shape is rejected", () => {
    assert.equal(normaliseLine(JSON.stringify({ messages: [user("a"), assistant("b")] }), DatasetKind.DATASET_KIND_UNSPECIFIED).kind, SFT);
    assert.equal(normaliseLine(JSON.stringify(expected), DatasetKind.DATASET_KIND_UNSPECIFIED).kind, PREF);
    assert.match(reason(`{"question": "a", "answer": "b"}`, DatasetKind.DATASET_KIND_UNSPECIFIED), /^unknown format/);
  });
});

describe("datasets rows — Alpaca and ShareGPT become messages", () => {
  it("Alpaca instruction (+ input) is the user turn, output the answer; other fields kept", () => {
    const with_input = normaliseLine(JSON.stringify({ instruction: "Translate.", input: "bonjour", output: "hello", id: 7 }), DatasetKind.DATASET_KIND_UNSPECIFIED);
    assert.deepEqual(with_input, { ok: true, kind: SFT, row: { messages: [user("Translate.\n\nbonjour"), assistant("hello")], id: 7 } });
    const without = normaliseLine(JSON.stringify({ instruction: "Say hi.", input: "", output: "hi" }), SFT);
    assert.deepEqual(without, { ok: true, kind: SFT, row: { messages: [user("Say hi."), assistant("hi")] } });
    assert.equal(reason(JSON.stringify({ instruction: "", output: "x" }), SFT), "instruction: must not be empty");
    assert.equal(reason(JSON.stringify({ instruction: "q", input: 3, output: "x" }), SFT), "input: must be a string");
  });

  it("ShareGPT from/value turns map human->user, gpt->assistant, system->system", () => {
    const r = normaliseLine(
      JSON.stringify({ conversations: [{ from: "system", value: "Be kind." }, { from: "human", value: "hi" }, { from: "gpt", value: "hello" }], source: "sg" }),
      DatasetKind.DATASET_KIND_UNSPECIFIED,
    );
    assert.deepEqual(r, { ok: true, kind: SFT, row: { messages: [{ role: "system", content: "Be kind." }, user("hi"), assistant("hello")], source: "sg" } });
    assert.match(reason(JSON.stringify({ conversations: [{ from: "robot", value: "x" }] }), SFT), /^conversations\[0\]\.from: must be one of human, user, gpt/);
    assert.equal(reason(JSON.stringify({ conversations: [{ from: "human" }] }), SFT), "conversations[0].value: missing");
    assert.equal(reason(JSON.stringify({ conversations: [{ from: "human", value: "q" }] }), SFT), "conversations: has no assistant turn");
  });

  it("UltraFeedback rows (which also carry messages) are detected as preference", () => {
    const row = { prompt: "2+2?", chosen: [user("2+2?"), assistant("4")], rejected: [user("2+2?"), assistant("5")], messages: [user("2+2?"), assistant("4")] };
    assert.equal(normaliseLine(JSON.stringify(row), DatasetKind.DATASET_KIND_UNSPECIFIED).kind, PREF);
  });
});
