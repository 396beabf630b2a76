import { ValidationError } from "./errors.js";
import type { JudgeClient, JudgeRequest } from "./judge-client.js";
import { MT_BENCH_REFERENCE_CATEGORIES, type MtBenchJudgePrompt, type MtBenchQuestion, type MtBenchReference } from "./mt-bench-data.js";
import { fillTemplate } from "./template.js";

/** FastChat's judge decoding: greedy, up to 2,048 tokens. */
export const MT_BENCH_JUDGE_SETTINGS = { temperature: 0, maxTokens: 2048 } as const;

/** One judgment in FastChat's `model_judgment/<judge>_single.jsonl` format, plus what we record about the judge. */
export interface MtBenchJudgment {
  question_id: number;
  model: string;
  /** [judge model, prompt name], as FastChat writes it. */
  judge: [string, string];
  user_prompt: string;
  judgment: string;
  /** The parsed rating, or -1 when the judgment had none (excluded from scores, counted). */
  score: number;
  turn: number;
  tstamp: number;
  judge_snapshot: string;
  request_sha256: string;
}

/** The model's answers to one question, turn 1 first; turn 2 was generated after the model's own turn-1 answer. */
export interface MtBenchAnswer {
  question_id: number;
  turns: string[];
}

// FastChat: re.search(r"\[\[(\d+\.?\d*)\]\]") and, failing that, the single-bracket backup.
const RATING = /\[\[(\d+\.?\d*)\]\]/;
const RATING_BACKUP = /\[(\d+\.?\d*)\]/;

/** The `[[rating]]` (or FastChat's `[rating]` fallback) in a judgment; -1 when there is none. */
export function parseMtBenchRating(judgment: string): number {
  const m = RATING.exec(judgment) ?? RATING_BACKUP.exec(judgment);
  if (!m) return -1;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : -1;
}

/** Prompt name FastChat uses for this question and turn. */
export function mtBenchPromptName(category: string, turn: number): string {
  const base = MT_BENCH_REFERENCE_CATEGORIES.has(category) ? "single-math-v1" : "single-v1";
  return turn === 1 ? base : `${base}-multi-turn`;
}

export interface MtBenchJudgeInput {
  question: MtBenchQuestion;
  answerTurns: string[];
  turn: 1 | 2;
  prompts: Map<string, MtBenchJudgePrompt>;
  reference: MtBenchReference | undefined;
}

/** The judge conversation for one question and turn, built as FastChat's run_judge_single builds it. */
export function buildMtBenchJudgeRequest(input: MtBenchJudgeInput): { promptName: string; userPrompt: string; request: JudgeRequest } {
  const { question, answerTurns, turn, prompts, reference } = input;
  const qid = question.question_id;
  const promptName = mtBenchPromptName(question.category, turn);
  const prompt = prompts.get(promptName);
  if (!prompt) throw new ValidationError(`judge prompt ${promptName} is missing from the judge prompts file`, { key: promptName });
  if (question.turns.length < turn) throw new ValidationError(`question ${qid} has no turn ${turn}`, { field: "turns", row: qid });
  if (answerTurns.length < turn) throw new ValidationError(`answer to question ${qid} has no turn ${turn}`, { field: "turns", row: qid });
  const values: Record<string, string> = {};
  if (MT_BENCH_REFERENCE_CATEGORIES.has(question.category)) {
    const refTurns = reference?.choices[0]?.turns;
    if (!refTurns || refTurns.length < turn) {
      throw new ValidationError(`question ${qid} (${question.category}) needs a reference answer for turn ${turn}`, { row: qid, field: "reference" });
    }
    values.ref_answer_1 = refTurns[0]!;
    if (turn === 2) values.ref_answer_2 = refTurns[1]!;
  }
  if (turn === 1) {
    values.question = question.turns[0]!;
    values.answer = answerTurns[0]!;
  } else {
    values.question_1 = question.turns[0]!;
    values.question_2 = question.turns[1]!;
    values.answer_1 = answerTurns[0]!;
    values.answer_2 = answerTurns[1]!;
  }
  const userPrompt = fillTemplate(prompt.prompt_template, values);
  return {
    promptName,
    userPrompt,
    request: {
      messages: [
        { role: "system", content: prompt.system_prompt },
        { role: "user", content: userPrompt },
      ],
      temperature: MT_BENCH_JUDGE_SETTINGS.temperature,
      maxTokens: MT_BENCH_JUDGE_SETTINGS.maxTokens,
    },
  };
}

export interface JudgeMtBenchInput {
  client: JudgeClient;
  /** Name recorded as `model` in each judgment (the adapter version being evaluated). */
  model: string;
  questions: MtBenchQuestion[];
  answers: MtBenchAnswer[];
  prompts: Map<string, MtBenchJudgePrompt>;
  references: Map<number, MtBenchReference>;
  /** Turns to judge; default both. */
  turns?: (1 | 2)[];
}

/** Judges every question and turn (concurrently, within the client's limit); returns judgments in question order. */
export async function judgeMtBench(input: JudgeMtBenchInput): Promise<MtBenchJudgment[]> {
  const answers = new Map(input.answers.map((a) => [a.question_id, a.turns]));
  const turns = input.turns ?? [1, 2];
  const jobs = input.questions.flatMap((question) => {
    const answerTurns = answers.get(question.question_id);
    if (!answerTurns) throw new ValidationError(`no answer for MT-Bench question ${question.question_id}`, { row: question.question_id });
    const reference = input.references.get(question.question_id);
    return turns.map((turn) => ({
      question,
      turn,
      built: buildMtBenchJudgeRequest({ question, answerTurns, turn, prompts: input.prompts, reference }),
    }));
  });
  return Promise.all(
    jobs.map(async ({ question, turn, built }) => {
      const c = await input.client.complete(built.request);
      return {
        question_id: question.question_id,
        model: input.model,
        judge: [c.judgeModel, built.promptName] as [string, string],
        user_prompt: built.userPrompt,
        judgment: c.content,
        score: parseMtBenchRating(c.content),
        turn,
        tstamp: Date.now() / 1000,
        judge_snapshot: c.judgeSnapshot,
        request_sha256: c.requestSha256,
      };
    }),
  );
}
