import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { BENCH_DATA_DIR } from "@mambalign/core/testing";
import { EvalIndex, loadEvalIndex, loadEvalPrompts, words } from "./decontaminate.js";

// The real benchmark texts (MT-Bench questions, AlpacaEval instructions): the evaluator's shipped copy.

describe("datasets decontamination — word n-gram overlap with eval prompts", () => {
  it("reads every MT-Bench turn and each AlpacaEval instruction once", async () => {
    const { prompts, files } = await loadEvalPrompts(BENCH_DATA_DIR);
    assert.deepEqual(files, ["mt_bench/question.jsonl", "alpaca_eval/reference_gpt4_1106_preview.json", "alpaca_eval/reference_text_davinci_003.json"]);
    assert.equal(prompts.filter((p) => p.id.startsWith("mt_bench:")).length, 160);
    assert.equal(prompts.filter((p) => p.id.startsWith("alpaca_eval:")).length, 805);
  });

  it("finds every eval prompt in itself, even re-cased and re-punctuated, and nothing in a clean set", async () => {
    const { index } = await loadEvalIndex({ dir: BENCH_DATA_DIR, ngram: 8, threshold: 0.5 });
    const { prompts } = await loadEvalPrompts(BENCH_DATA_DIR);
    const self = prompts.filter((p) => index.match([p.text.toUpperCase().replace(/[.,]/g, " ; ")]) !== null);
    assert.equal(self.length, prompts.length);
    // Wrapped in a longer training prompt it is still found.
    const long = prompts.filter((p) => p.id.startsWith("alpaca_eval:") && words(p.text).length >= 20)[3]!;
    assert.equal(index.match([`Please help me with this task. ${long.text} Thanks a lot!`])?.evalId, long.id);
    const clean = Array.from({ length: 500 }, (_, i) => `Write a short note about the number ${i} and the colour of the sky on day ${i % 7}.`);
    assert.equal(clean.filter((t) => index.match([t]) !== null).length, 0);
  });

  it("n and threshold decide: half an eval prompt matches at 0.5 and not at 0.9", async () => {
    const prompt = { id: "x:1", text: "one two three four five six seven eight nine ten eleven twelve" };
    const half = "one two three four five six seven eight nine"; // 2 of the prompt's 5 8-grams
    assert.equal(new EvalIndex([prompt], 8, 0.4).match([half])?.overlap, 0.4);
    assert.equal(new EvalIndex([prompt], 8, 0.9).match([half]), null);
    assert.equal(new EvalIndex([prompt], 4, 0.5).match([half])?.overlap, 6 / 9);
    // A prompt shorter than n matches a turn with exactly its words only.
    const short = new EvalIndex([{ id: "s", text: "Hi there!" }], 8, 0.5);
    assert.equal(short.match(["hi, there"])?.evalId, "s");
    assert.equal(short.match(["hi there, how are you"]), null);
    assert.deepEqual(words("Don't stop—2 ways"), ["don", "t", "stop", "2", "ways"]);
  });

  it("a directory without eval files, or a bad n, is a clear error", async () => {
    const empty = await fsp.mkdtemp(path.join(os.tmpdir(), "decon-"));
    try {
      await assert.rejects(loadEvalIndex({ dir: empty, ngram: 8, threshold: 0.5 }), /no eval prompts in .*mt_bench\/question\.jsonl/);
      await assert.rejects(loadEvalIndex({ dir: BENCH_DATA_DIR, ngram: 0, threshold: 0.5 }), /decontamination\.ngram: must be a whole number >= 1/);
      await assert.rejects(loadEvalIndex({ dir: BENCH_DATA_DIR, ngram: 8, threshold: 1.5 }), /decontamination\.threshold: must be in \(0, 1\]/);
    } finally {
      await fsp.rm(empty, { recursive: true });
    }
  });
});
