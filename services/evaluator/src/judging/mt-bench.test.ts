import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildMtBenchJudgeRequest,
  JudgeClient,
  judgeMtBench,
  loadMtBenchJudgePrompts,
  loadMtBenchQuestions,
  loadMtBenchReferences,
  MT_BENCH_TEMPERATURES,
  mtBenchTemperature,
  parseMtBenchRating,
  scoreMtBench,
  scoreMtBenchJudgmentsFile,
  ValidationError,
  type MtBenchAnswer,
  type MtBenchJudgePrompt,
  type MtBenchQuestion,
  type MtBenchReference,
} from "./index.js";
import { SHIPPED_BENCH_DATA_DIR } from "../evaluator-options.js";
import { startLocalJudgeServer } from "../../test-support/local-judge-server.js";

const data = join(SHIPPED_BENCH_DATA_DIR, "mt_bench");

let questions: MtBenchQuestion[];
let prompts: Map<string, MtBenchJudgePrompt>;
let references: Map<number, MtBenchReference>;
let tmp: string;

before(async () => {
  questions = await loadMtBenchQuestions(join(data, "question.jsonl"));
  prompts = await loadMtBenchJudgePrompts(join(data, "judge_prompts.jsonl"));
  references = await loadMtBenchReferences(join(data, "reference_answer_gpt-4.jsonl"));
  tmp = await mkdtemp(join(tmpdir(), "mt-bench-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("mt-bench — generation settings", () => {
  it("exports FastChat's per-category temperatures for every category in the question file", () => {
    assert.deepEqual(
      { ...MT_BENCH_TEMPERATURES },
      { writing: 0.7, roleplay: 0.7, extraction: 0, math: 0, coding: 0, reasoning: 0, stem: 0.1, humanities: 0.1 },
    );
    for (const q of questions) assert.equal(typeof mtBenchTemperature(q.category), "number");
    assert.throws(() => mtBenchTemperature("poetry"), ValidationError);
    assert.equal(questions.length, 80);
  });
});

describe("mt-bench — rating parsing", () => {
  it("reads [[rating]], falls back to [rating] like FastChat, and gives -1 when there is none", () => {
    assert.equal(parseMtBenchRating("Good answer. Rating: [[7]]"), 7);
    assert.equal(parseMtBenchRating("Rating: [[8.5]]"), 8.5);
    assert.equal(parseMtBenchRating("Rating: [6]"), 6);
    assert.equal(parseMtBenchRating("see [3] but final [[9]]"), 9, "the double-bracket form wins wherever it is");
    assert.equal(parseMtBenchRating("I would give it a seven."), -1);
    assert.equal(parseMtBenchRating("Rating: [[seven]]"), -1);
  });
});

describe("mt-bench — judge prompts", () => {
  it("uses single-math-v1 with the GPT-4 reference answer for math turn 1", () => {
    const q = questions.find((x) => x.category === "math")!;
    const built = buildMtBenchJudgeRequest({ question: q, answerTurns: ["A1", "A2"], turn: 1, prompts, reference: references.get(q.question_id) });
    assert.equal(built.promptName, "single-math-v1");
    assert.equal(built.request.messages[0]!.content, "You are a helpful assistant.");
    assert.ok(built.userPrompt.includes(references.get(q.question_id)!.choices[0]!.turns[0]!));
    assert.ok(built.userPrompt.includes(`[Question]\n${q.turns[0]}`));
    assert.ok(built.userPrompt.includes("[The Start of Assistant's Answer]\nA1\n"));
    assert.equal(built.request.temperature, 0);
    assert.equal(built.request.maxTokens, 2048);
  });

  it("uses the multi-turn variant for turn 2, with both questions and both answers", () => {
    const q = questions.find((x) => x.category === "writing")!;
    const built = buildMtBenchJudgeRequest({ question: q, answerTurns: ["first {answer_2}", "second"], turn: 2, prompts, reference: undefined });
    assert.equal(built.promptName, "single-v1-multi-turn");
    assert.equal(built.request.messages[0]!.content, prompts.get("single-v1-multi-turn")!.system_prompt);
    assert.ok(built.userPrompt.includes(`### User:\n${q.turns[1]}\n\n### Assistant A:\nsecond`));
    assert.ok(built.userPrompt.includes("### Assistant A:\nfirst {answer_2}\n"), "placeholders inside answers are left alone");
    const coding = questions.find((x) => x.category === "coding")!;
    const c2 = buildMtBenchJudgeRequest({ question: coding, answerTurns: ["a", "b"], turn: 2, prompts, reference: references.get(coding.question_id) });
    assert.equal(c2.promptName, "single-math-v1-multi-turn");
    assert.ok(c2.userPrompt.includes(references.get(coding.question_id)!.choices[0]!.turns[1]!));
  });

  it("refuses a reference category without its reference answer", () => {
    const q = questions.find((x) => x.category === "reasoning")!;
    assert.throws(
      () => buildMtBenchJudgeRequest({ question: q, answerTurns: ["a", "b"], turn: 1, prompts, reference: undefined }),
      (e: unknown) => e instanceof ValidationError && e.row === q.question_id && /reference answer/.test(e.message),
    );
  });
});

describe("mt-bench — judging over HTTP and scoring", () => {
  it("judges 80 questions x 2 turns and scores per turn, per category and overall, excluding unparsable ratings", async () => {
    // Ratings planned per question and turn; a few judgments carry no rating, a few use the [n] fallback.
    const plan = (q: MtBenchQuestion, turn: number): number => ((q.question_id * (turn + 1)) % 10) + 1;
    const unparsable = (q: MtBenchQuestion, turn: number): boolean => turn === 2 && q.question_id % 20 === 1;
    const backup = (q: MtBenchQuestion, turn: number): boolean => turn === 1 && q.question_id % 7 === 0;
    const answerFor = (q: MtBenchQuestion, turn: number): string =>
      unparsable(q, turn) ? "NO_RATING" : backup(q, turn) ? `RATE_BACKUP=${plan(q, turn)}` : `RATE=${plan(q, turn)}`;
    const answers: MtBenchAnswer[] = questions.map((q) => ({ question_id: q.question_id, turns: [answerFor(q, 1), answerFor(q, 2)] }));

    const server = await startLocalJudgeServer({ snapshot: "gpt-4-0613" });
    try {
      const client = new JudgeClient({ baseUrl: server.baseUrl, model: "gpt-4", concurrency: 8 });
      const judgments = await judgeMtBench({ client, model: "mamba-dpo", questions, answers, prompts, references });
      assert.equal(judgments.length, 160);
      assert.equal(server.stats().requests, 160);
      assert.ok(judgments.every((j) => j.judge[0] === "gpt-4" && j.judge_snapshot === "gpt-4-0613"));
      const mathTurn2 = judgments.find((j) => j.turn === 2 && j.question_id === questions.find((q) => q.category === "math")!.question_id)!;
      assert.equal(mathTurn2.judge[1], "single-math-v1-multi-turn");

      const categories = new Map(questions.map((q) => [q.question_id, q.category]));
      const [scores] = scoreMtBench(judgments, categories);
      const expected = (pred: (q: MtBenchQuestion, turn: number) => boolean): number => {
        const xs = questions.flatMap((q) => [1, 2].filter((t) => pred(q, t) && !unparsable(q, t)).map((t) => plan(q, t)));
        return xs.reduce((a, b) => a + b, 0) / xs.length;
      };
      const nUnparsable = questions.filter((q) => unparsable(q, 2)).length;
      assert.equal(scores!.model, "mamba-dpo");
      assert.equal(scores!.nUnparsable, nUnparsable);
      assert.equal(scores!.nScored, 160 - nUnparsable);
      assert.ok(Math.abs(scores!.overall! - expected(() => true)) < 1e-12);
      assert.ok(Math.abs(scores!.perTurn["1"]! - expected((_, t) => t === 1)) < 1e-12);
      assert.ok(Math.abs(scores!.perTurn["2"]! - expected((_, t) => t === 2)) < 1e-12);
      assert.deepEqual(Object.keys(scores!.perCategory), ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"]);
      assert.ok(Math.abs(scores!.perCategory.stem! - expected((q) => q.category === "stem")) < 1e-12);
      assert.deepEqual(scores!.judgeSnapshots, ["gpt-4-0613"]);
    } finally {
      await server.close();
    }
  });
});

describe("mt-bench — scoring a FastChat judgment file", () => {
  const row = (question_id: number, model: string, score: number, turn: number): string =>
    JSON.stringify({ question_id, model, judge: ["gpt-4", turn === 1 ? "single-v1" : "single-v1-multi-turn"], user_prompt: "...", judgment: "...", score, turn, tstamp: 1 });

  it("scores per model with -1 excluded and counted, per category from the question file", async () => {
    const path = join(tmp, "gpt-4_single.jsonl");
    // writing: 81, 82; math: 111. Model a: turn 1 = 8, 6, 10; turn 2 = 4, -1, 7.
    await writeFile(
      path,
      [row(81, "a", 8, 1), row(82, "a", 6, 1), row(111, "a", 10, 1), row(81, "a", 4, 2), row(82, "a", -1, 2), row(111, "a", 7, 2), "", row(81, "b", 2, 1)].join("\n") + "\n",
    );
    const { scores, summary } = await scoreMtBenchJudgmentsFile(path, { questionsPath: join(data, "question.jsonl") });
    const a = scores.find((s) => s.model === "a")!;
    assert.equal(a.perTurn["1"], (8 + 6 + 10) / 3);
    assert.equal(a.perTurn["2"], (4 + 7) / 2);
    assert.equal(a.overall, (8 + 6 + 10 + 4 + 7) / 5);
    assert.equal(a.perCategory.writing, (8 + 6 + 4) / 3);
    assert.equal(a.perCategory.math, (10 + 7) / 2);
    assert.equal(a.nUnparsable, 1);
    assert.deepEqual(scores.map((s) => s.model), ["a", "b"], "best first, as FastChat prints");
    assert.match(summary, /^a\s+7\.00\s+8\.00\s+5\.50\s+5\s+1$/m);
    assert.match(summary, /judge: gpt-4/);

    const noCats = await scoreMtBenchJudgmentsFile(path, { models: ["b"] });
    assert.deepEqual(noCats.scores.map((s) => [s.model, s.overall, Object.keys(s.perCategory).length]), [["b", 2, 0]]);
  });

  it("names the line and field of a bad row, and a question missing from the question file", async () => {
    const bad = join(tmp, "bad.jsonl");
    await writeFile(bad, `${row(81, "a", 8, 1)}\n{"question_id": 82, "model": "a", "turn": 1}\n`);
    await assert.rejects(scoreMtBenchJudgmentsFile(bad), (e: unknown) => e instanceof ValidationError && e.row === 2 && e.field === "score");
    const unknown = join(tmp, "unknown.jsonl");
    await writeFile(unknown, `${row(999, "a", 8, 1)}\n`);
    await assert.rejects(scoreMtBenchJudgmentsFile(unknown, { questionsPath: join(data, "question.jsonl") }), /question_id 999 is not in the question file/);
    await assert.rejects(scoreMtBenchJudgmentsFile(join(tmp, "absent.jsonl")), (e: unknown) => e instanceof ValidationError && /cannot read/.test(e.message));
  });
});
