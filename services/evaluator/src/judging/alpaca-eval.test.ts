import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ALPACA_EVAL_V1,
  ALPACA_EVAL_V2,
  isOutputOrderSwapped,
  JudgeClient,
  judgeAlpacaEval,
  loadAlpacaEvalPrompt,
  loadAlpacaEvalReference,
  parseLogprobPreference,
  parseRankingPreference,
  scoreAlpacaEval,
  scoreAlpacaEvalAnnotationsFile,
  ValidationError,
  type AlpacaEvalReferenceRow,
} from "./index.js";
import { SHIPPED_BENCH_DATA_DIR } from "../evaluator-options.js";
import { startLocalJudgeServer } from "../../test-support/local-judge-server.js";

const data = join(SHIPPED_BENCH_DATA_DIR, "alpaca_eval");
let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "alpaca-eval-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("alpaca-eval — parsers", () => {
  it("reads the rank of model_1 from the ranking judge", () => {
    assert.equal(parseRankingPreference("[{'model': 'model_1', 'rank': 1}, {'model': 'model_2', 'rank': 2}]"), 1);
    assert.equal(parseRankingPreference('[{"model": "model_2", "rank": 1}, {"model": "model_1", "rank": 2}]'), 2);
    assert.equal(parseRankingPreference("[{'model': 'model_1', 'rank': 3}, {'model': 'model_2', 'rank': 1}]"), null);
    assert.equal(parseRankingPreference("I prefer the first."), null);
  });

  it("turns the m/M logprobs into 2 - P(m), with a missing token at probability 0", () => {
    assert.equal(parseLogprobPreference([{ token: "m", logprob: Math.log(0.5) }, { token: "M", logprob: Math.log(0.5) }]), 1.5);
    const p = parseLogprobPreference([{ token: "M", logprob: Math.log(0.6) }, { token: "m", logprob: Math.log(0.2) }, { token: "The", logprob: -1 }])!;
    assert.ok(Math.abs(p - (2 - 0.2 / 0.8)) < 1e-12);
    assert.equal(parseLogprobPreference([{ token: "m", logprob: -3 }]), 1);
    assert.equal(parseLogprobPreference([{ token: "Both", logprob: -0.1 }]), null);
    assert.equal(parseLogprobPreference(undefined), null);
  });
});

describe("alpaca-eval — prompts and reference data", () => {
  it("loads both judge prompts as system + user messages and the 805 instructions of each baseline", async () => {
    const v1 = await loadAlpacaEvalPrompt(join(data, ALPACA_EVAL_V1.promptFile));
    const v2 = await loadAlpacaEvalPrompt(join(data, ALPACA_EVAL_V2.promptFile));
    assert.deepEqual(v1.map((m) => m.role), ["system", "user"]);
    assert.deepEqual(v2.map((m) => m.role), ["system", "user"]);
    assert.equal(v1[0]!.content, "You are a helpful assistant, that ranks models by the quality of their answers.\n");
    const ref1 = await loadAlpacaEvalReference(join(data, ALPACA_EVAL_V1.referenceFile));
    const ref2 = await loadAlpacaEvalReference(join(data, ALPACA_EVAL_V2.referenceFile));
    assert.equal(ref1.length, 805);
    assert.equal(ref2.length, 805);
    assert.equal(ref1[0]!.generator, ALPACA_EVAL_V1.baseline);
    assert.equal(ref2[0]!.generator, ALPACA_EVAL_V2.baseline);
  });
});

describe("alpaca-eval — judging over HTTP", () => {
  let ref: AlpacaEvalReferenceRow[];
  before(async () => {
    ref = (await loadAlpacaEvalReference(join(data, ALPACA_EVAL_V1.referenceFile))).slice(0, 60);
  });

  // Model outputs longer than the baseline on even rows, shorter on odd rows; row 5 has none.
  const outputsFor = (rows: AlpacaEvalReferenceRow[]) =>
    rows.map((r, i) => ({ instruction: r.instruction, output: i === 5 ? null : i % 2 === 0 ? `${r.output} And more detail.` : r.output.slice(0, Math.max(1, r.output.length >> 1)) }));

  it("v1: randomises the shown order by seed and undoes it, so the longer output wins for the local judge", async () => {
    const server = await startLocalJudgeServer({ snapshot: "gpt-4-0613" });
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4" });
      const template = await loadAlpacaEvalPrompt(join(data, ALPACA_EVAL_V1.promptFile));
      const annotations = await judgeAlpacaEval({ client, config: ALPACA_EVAL_V1, template, reference: ref, outputs: outputsFor(ref), generator: "mamba-sft", seed: "s1" });
      assert.equal(annotations.length, 60);
      assert.equal(server.stats().requests, 59, "the instruction without an output is not sent");
      const swapped = annotations.filter((a) => a.is_swapped).length;
      assert.ok(swapped > 10 && swapped < 50, `both orders are used (${swapped} swapped of 60)`);
      annotations.forEach((a, i) => {
        assert.equal(a.is_swapped, isOutputOrderSwapped("s1", a.instruction));
        assert.equal(a.order_seed, "s1");
        assert.equal(a.generator_1, "text_davinci_003");
        assert.equal(a.generator_2, "mamba-sft");
        if (i === 5) {
          assert.equal(a.preference, null);
          assert.equal(a.output_2, null);
          return;
        }
        assert.equal(a.preference, i % 2 === 0 ? 2 : 1, `row ${i} (swapped ${a.is_swapped})`);
        assert.equal(a.judge_snapshot, "gpt-4-0613");
      });
      const [s] = scoreAlpacaEval(annotations);
      assert.equal(s!.nTotal, 59);
      assert.equal(s!.nDropped, 1);
      assert.equal(s!.nMissingOutputs, 1);
      assert.equal(s!.winRate, (30 / 59) * 100);
    } finally {
      await server.close();
    }
  });

  it("v2: reads the preference from logprobs, weighted, and the same seed reproduces the same requests", async () => {
    const server = await startLocalJudgeServer();
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4-1106-preview" });
      const template = await loadAlpacaEvalPrompt(join(data, ALPACA_EVAL_V2.promptFile));
      const input = { client, config: ALPACA_EVAL_V2, template, reference: ref, outputs: outputsFor(ref), generator: "mamba-dpo", seed: "s2" };
      const a = await judgeAlpacaEval(input);
      a.forEach((x, i) => {
        if (i === 5) return assert.equal(x.preference, null);
        assert.ok(x.preference! > 1 && x.preference! < 2, "weighted, strictly between");
        assert.equal(x.preference! > 1.5, i % 2 === 0, `row ${i}: the longer output is preferred whichever is shown first`);
        assert.ok(x.raw_top_logprobs?.some((t) => t.token === "m"));
      });
      const again = await judgeAlpacaEval(input);
      assert.deepEqual(again.map((x) => x.request_sha256), a.map((x) => x.request_sha256));
    } finally {
      await server.close();
    }
  });
});

describe("alpaca-eval — score arithmetic", () => {
  const ann = (preference: unknown, output_2: string | null = "model answer", output_1: string | null = "baseline") => ({
    instruction: "i",
    output_1,
    output_2,
    generator_1: "gpt4_1106_preview",
    generator_2: "m",
    preference,
  });

  it("counts ties half, weights fractional preferences, drops null ones and gives the standard error", () => {
    const rows = [ann(2), ann(1), ann(1.5), ann(0), ann(null), ann(2), ann(1.75)];
    const [s] = scoreAlpacaEval(rows as never);
    // y = preference - 1 over usable rows: 1, 0, .5, .5, 1, .75
    const y = [1, 0, 0.5, 0.5, 1, 0.75];
    const mean = y.reduce((a, b) => a + b) / y.length;
    const sem = Math.sqrt(y.reduce((a, v) => a + (v - mean) ** 2, 0) / (y.length - 1)) / Math.sqrt(y.length);
    assert.ok(Math.abs(s!.winRate! - 62.5) < 1e-12);
    assert.ok(Math.abs(s!.standardError! - sem * 100) < 1e-12);
    assert.deepEqual([s!.nWins, s!.nWinsBase, s!.nDraws, s!.nTotal, s!.nDropped], [3, 1, 2, 6, 1]);
    assert.ok(Math.abs(s!.discreteWinRate! - ((3 + 0.5 * 2) / 6) * 100) < 1e-12);
  });

  it("keeps an annotation with a missing output in the win rate but out of the length-adjustment fit", () => {
    const outputs = ["long model answer here", "x", "medium one", "a fairly long answer, longer still", "mid", "tiny!"];
    const rows = [ann(2, null), ...outputs.map((o, i) => ann([2, 1, 1.5, 2, 1, 1.2][i]!, o))];
    const [s] = scoreAlpacaEval(rows as never);
    assert.equal(s!.nMissingOutputs, 1);
    assert.equal(s!.nTotal, 7);
    assert.equal(s!.winRate, ((1 + 1 + 0 + 0.5 + 1 + 0 + 0.2) / 7) * 100);
    assert.equal(s!.lengthAdjustedNoDifficulty!.nFitted, 6);
    assert.equal(s!.lengthAdjustedNoDifficulty!.nPredicted, 7);
    assert.equal(s!.avgLength, outputs.join("").length / 6);
  });

  it("scores an annotations file (JSON array or lines) per model and names a bad row", async () => {
    const path = join(tmp, "annotations.json");
    const rows = [
      ...[2, 2, 1, 1.5].map((p) => ann(p)),
      { ...ann(1), generator_2: "other" },
      { ...ann("2"), generator_2: "other" },
      { ...ann(Number.NaN), generator_2: "other" },
    ];
    await writeFile(path, JSON.stringify(rows, null, 1).replace("NaN", "null"));
    const { scores, summary } = await scoreAlpacaEvalAnnotationsFile(path);
    assert.deepEqual(scores.map((s) => [s.model, s.winRate, s.nDropped]), [["m", 62.5, 0], ["other", 50, 1]]);
    assert.match(summary, /^m\s+gpt4_1106_preview/m);
    const lines = join(tmp, "annotations.jsonl");
    await writeFile(lines, rows.slice(0, 4).map((r) => JSON.stringify(r)).join("\n"));
    assert.equal((await scoreAlpacaEvalAnnotationsFile(lines)).scores[0]!.winRate, 62.5);
    const bad = join(tmp, "bad.json");
    await writeFile(bad, JSON.stringify([ann(2), { ...ann(2), output_2: 5 }]));
    await assert.rejects(scoreAlpacaEvalAnnotationsFile(bad), (e: unknown) => e instanceof ValidationError && e.row === 2 && e.field === "output_2");
  });
});
