import { z } from "zod";
import { ValidationError } from "./errors.js";
import type { ChatMessage } from "./judge-client.js";
import { parseJsonArrayOrLines, readTextFile } from "./jsonl.js";
import { requirePlaceholders } from "./template.js";

export type AlpacaEvalVersion = "v1" | "v2";

/** How a benchmark version judges: the prompt, the baseline, the judge's decoding and how its answer is read. */
export interface AlpacaEvalConfig {
  version: AlpacaEvalVersion;
  /** AlpacaEval's annotator name, recorded with each annotation. */
  annotator: string;
  /** The judge the leaderboard used; callers may pick another OpenAI-compatible model. */
  defaultJudgeModel: string;
  /** File names in AlpacaEval's data folder (`services/evaluator/benchmarks/alpaca_eval` as shipped). */
  promptFile: string;
  referenceFile: string;
  /** `generator` of the reference outputs. */
  baseline: string;
  temperature: number;
  maxTokens: number;
  /** Set for the weighted (logprob) judge. */
  topLogprobs: number | undefined;
  parser: "ranking" | "logprob";
}

/** v1: `alpaca_eval_gpt4` ranking prompt against text-davinci-003 (decoding from its judge_config yaml). */
export const ALPACA_EVAL_V1: AlpacaEvalConfig = Object.freeze({
  version: "v1",
  annotator: "alpaca_eval_gpt4",
  defaultJudgeModel: "gpt-4",
  promptFile: "judge_prompt_alpaca_eval_gpt4.txt",
  referenceFile: "reference_text_davinci_003.json",
  baseline: "text_davinci_003",
  temperature: 0,
  maxTokens: 100,
  topLogprobs: undefined,
  parser: "ranking",
});

/** v2: `weighted_alpaca_eval_gpt4_turbo`, one token with top-5 logprobs, against gpt4_1106_preview. */
export const ALPACA_EVAL_V2: AlpacaEvalConfig = Object.freeze({
  version: "v2",
  annotator: "weighted_alpaca_eval_gpt4_turbo",
  defaultJudgeModel: "gpt-4-1106-preview",
  promptFile: "judge_prompt_weighted_gpt4_turbo.txt",
  referenceFile: "reference_gpt4_1106_preview.json",
  baseline: "gpt4_1106_preview",
  temperature: 1,
  maxTokens: 1,
  topLogprobs: 5,
  parser: "logprob",
});

export const ALPACA_EVAL_CONFIGS: Readonly<Record<AlpacaEvalVersion, AlpacaEvalConfig>> = Object.freeze({ v1: ALPACA_EVAL_V1, v2: ALPACA_EVAL_V2 });

/** AlpacaEval generation settings: greedy, up to 2,048 new tokens. */
export const ALPACA_EVAL_GENERATION = Object.freeze({ temperature: 0, maxNewTokens: 2048 });

export const alpacaEvalReferenceRowSchema = z.object({
  instruction: z.string(),
  output: z.string(),
  generator: z.string(),
  dataset: z.string().optional(),
});
export type AlpacaEvalReferenceRow = z.infer<typeof alpacaEvalReferenceRowSchema>;

/** The 805 instructions with a baseline's outputs (`model_outputs.json` format). */
export async function loadAlpacaEvalReference(path: string): Promise<AlpacaEvalReferenceRow[]> {
  return parseJsonArrayOrLines(await readTextFile(path, "AlpacaEval reference outputs"), alpacaEvalReferenceRowSchema, path);
}

/** A judge prompt: chat messages whose contents hold `{instruction}`, `{output_1}`, `{output_2}`. */
export async function loadAlpacaEvalPrompt(path: string): Promise<ChatMessage[]> {
  return parseChatMlTemplate(await readTextFile(path, "AlpacaEval judge prompt"), path);
}

/**
 * Splits an AlpacaEval `<|im_start|>role\ncontent<|im_end|>` template into messages, as AlpacaEval's
 * prompt_to_chatml does (content keeps its trailing newline). The template is split before it is
 * filled, so an output containing `<|im_end|>` cannot break the conversation apart.
 */
export function parseChatMlTemplate(text: string, source: string): ChatMessage[] {
  const prompt = text.trim();
  if (!prompt.startsWith("<|im_start|>") || !prompt.endsWith("<|im_end|>")) {
    throw new ValidationError(`${source}: a chat template must start with <|im_start|> and end with <|im_end|>`, { key: source });
  }
  const messages: ChatMessage[] = prompt
    .split("<|im_start|>")
    .slice(1)
    .map((part) => {
      const nl = part.indexOf("\n");
      const role = (nl < 0 ? part : part.slice(0, nl)).trim();
      const content = (nl < 0 ? "" : part.slice(nl + 1)).split("<|im_end|>")[0]!;
      if (role !== "system" && role !== "user" && role !== "assistant") {
        throw new ValidationError(`${source}: unknown chat role ${JSON.stringify(role)}`, { key: source, field: "role" });
      }
      return { role, content };
    });
  requirePlaceholders(messages.map((m) => m.content).join("\n"), ["instruction", "output_1", "output_2"], source);
  return messages;
}
