import { z } from "zod";
import { ValidationError } from "./errors.js";
import { parseJsonl, readTextFile } from "./jsonl.js";

export const MT_BENCH_CATEGORIES = ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"] as const;
export type MtBenchCategory = (typeof MT_BENCH_CATEGORIES)[number];

/** FastChat's sampling temperature per category (`fastchat/llm_judge/common.py` temperature_config). */
export const MT_BENCH_TEMPERATURES: Readonly<Record<MtBenchCategory, number>> = Object.freeze({
  writing: 0.7,
  roleplay: 0.7,
  extraction: 0.0,
  math: 0.0,
  coding: 0.0,
  reasoning: 0.0,
  stem: 0.1,
  humanities: 0.1,
});

/** Categories judged against a reference answer (FastChat's NEED_REF_CATS). */
export const MT_BENCH_REFERENCE_CATEGORIES: ReadonlySet<string> = new Set(["math", "reasoning", "coding"]);

/** FastChat's generation length for MT-Bench answers. */
export const MT_BENCH_MAX_NEW_TOKENS = 1024;

export function mtBenchTemperature(category: string): number {
  const t = (MT_BENCH_TEMPERATURES as Record<string, number>)[category];
  if (t === undefined) {
    throw new ValidationError(`unknown MT-Bench category ${JSON.stringify(category)}; known: ${MT_BENCH_CATEGORIES.join(", ")}`, {
      field: "category",
    });
  }
  return t;
}

export const mtBenchQuestionSchema = z.object({
  question_id: z.number().int(),
  category: z.string(),
  turns: z.array(z.string()).min(1),
});
export type MtBenchQuestion = z.infer<typeof mtBenchQuestionSchema>;

export const mtBenchReferenceSchema = z.object({
  question_id: z.number().int(),
  model_id: z.string().optional(),
  choices: z.array(z.object({ turns: z.array(z.string()).min(1) })).min(1),
});
export type MtBenchReference = z.infer<typeof mtBenchReferenceSchema>;

export const mtBenchJudgePromptSchema = z.object({
  name: z.string(),
  type: z.string(),
  system_prompt: z.string(),
  prompt_template: z.string(),
  output_format: z.string(),
});
export type MtBenchJudgePrompt = z.infer<typeof mtBenchJudgePromptSchema>;

export async function loadMtBenchQuestions(path: string): Promise<MtBenchQuestion[]> {
  return parseJsonl(await readTextFile(path, "MT-Bench questions"), mtBenchQuestionSchema, path);
}

/** Reference answers by question id (FastChat's `reference_answer/gpt-4.jsonl`). */
export async function loadMtBenchReferences(path: string): Promise<Map<number, MtBenchReference>> {
  const rows = parseJsonl(await readTextFile(path, "MT-Bench reference answers"), mtBenchReferenceSchema, path);
  return new Map(rows.map((r) => [r.question_id, r]));
}

/** Judge prompts by name (`single-v1`, `single-math-v1`, `...-multi-turn`, pairwise ones too). */
export async function loadMtBenchJudgePrompts(path: string): Promise<Map<string, MtBenchJudgePrompt>> {
  const rows = parseJsonl(await readTextFile(path, "MT-Bench judge prompts"), mtBenchJudgePromptSchema, path);
  return new Map(rows.map((r) => [r.name, r]));
}

/** Question id -> category, from the question file. */
export function categoriesById(questions: MtBenchQuestion[]): Map<number, string> {
  return new Map(questions.map((q) => [q.question_id, q.category]));
}
