import { sha256Hex } from "@mambalign/core";
import type { AlpacaEvalConfig, AlpacaEvalReferenceRow } from "./alpaca-eval-data.js";
import type { ChatMessage, JudgeClient, JudgeRequest, TokenLogprob } from "./judge-client.js";
import { fillTemplate } from "./template.js";

/**
 * One annotation in AlpacaEval's `annotations.json` format: output_1 is the baseline, output_2 the model,
 * preference 1 = baseline better, 2 = model better (fractional for the weighted judge), null = unusable.
 */
export interface AlpacaEvalAnnotation {
  instruction: string;
  dataset?: string;
  output_1: string;
  output_2: string | null;
  generator_1: string;
  generator_2: string;
  preference: number | null;
  annotator: string;
  /** Whether the model's output was shown first (as output "1"/"m"); already undone in `preference`. */
  is_swapped: boolean;
  /** The seed that decided `is_swapped`. */
  order_seed: string;
  raw_completion: string | null;
  /** Top logprobs of the judge's first token (weighted judge only). */
  raw_top_logprobs?: TokenLogprob[];
  judge_model: string | null;
  judge_snapshot: string | null;
  request_sha256: string | null;
}

/** A model's output for one instruction; null/undefined when generation produced none. */
export interface AlpacaEvalModelOutput {
  instruction: string;
  output: string | null | undefined;
}

/**
 * Whether to show the model's output first. AlpacaEval randomises the order per instruction with a seed;
 * we derive it from sha256(seed, instruction) so a rerun shows the same order (and hits the cache).
 */
export function isOutputOrderSwapped(seed: string, instruction: string): boolean {
  return (parseInt(sha256Hex(`${seed}\u0000${instruction}`).slice(0, 2), 16) & 1) === 1;
}

/** alpaca_eval's ranking_parser, leniently: the rank given to "model_1" in a list of {'model', 'rank'} dicts; null when absent or not 1/2. */
export function parseRankingPreference(completion: string): 1 | 2 | null {
  for (const block of completion.match(/\{[^{}]*\}/g) ?? []) {
    const model = /['"]model['"]\s*:\s*['"]([^'"]*)['"]/.exec(block)?.[1];
    const rank = /['"]rank['"]\s*:\s*(\d+)/.exec(block)?.[1];
    if (model === "model_1" && rank !== undefined) {
      const r = Number(rank);
      return r === 1 || r === 2 ? r : null;
    }
  }
  return null;
}

/**
 * alpaca_eval's logprob_parser (is_binarize false): P("m") / (P("m") + P("M")) from the first token's top
 * logprobs, returned as 2 - P, so 1 means the first-shown output wins. A token missing from the top list has
 * probability 0; null when neither token is there.
 */
export function parseLogprobPreference(topLogprobs: TokenLogprob[] | undefined, numerator = "m", denominator = ["m", "M"]): number | null {
  if (!topLogprobs) return null;
  const lp = new Map<string, number>();
  for (const t of topLogprobs) if (denominator.includes(t.token) || t.token === numerator) lp.set(t.token, t.logprob);
  if (lp.size === 0) return null;
  const num = lp.get(numerator) ?? -Infinity;
  const terms = denominator.map((t) => lp.get(t) ?? -Infinity);
  const max = Math.max(...terms);
  const logDen = max + Math.log(terms.reduce((s, x) => s + Math.exp(x - max), 0));
  return 2 - Math.exp(num - logDen);
}

/** The judge request for one pair in the order shown (first, second). */
export function buildAlpacaEvalJudgeRequest(
  config: AlpacaEvalConfig,
  template: ChatMessage[],
  instruction: string,
  shownFirst: string,
  shownSecond: string,
): JudgeRequest {
  const values = { instruction, output_1: shownFirst, output_2: shownSecond };
  const req: JudgeRequest = {
    messages: template.map((m) => ({ role: m.role, content: fillTemplate(m.content, values) })),
    temperature: config.temperature,
    maxTokens: config.maxTokens,
  };
  if (config.topLogprobs !== undefined) req.topLogprobs = config.topLogprobs;
  return req;
}

export interface JudgeAlpacaEvalInput {
  client: JudgeClient;
  config: AlpacaEvalConfig;
  /** From loadAlpacaEvalPrompt(config.promptFile). */
  template: ChatMessage[];
  /** Baseline outputs; one annotation per row, in this order. */
  reference: AlpacaEvalReferenceRow[];
  /** The model's outputs, matched to the reference by instruction. */
  outputs: AlpacaEvalModelOutput[];
  /** Name of the evaluated model (generator_2). */
  generator: string;
  /** Seed of the output-order randomisation; recorded in every annotation. */
  seed: string;
}

/**
 * Judges the model against the baseline on every reference instruction (concurrently, within the client's limit).
 * An instruction without a model output is not sent: it gets preference null and output_2 null, and scoring
 * counts it as missing. Judge answers that cannot be read get preference null.
 */
export async function judgeAlpacaEval(input: JudgeAlpacaEvalInput): Promise<AlpacaEvalAnnotation[]> {
  const outputs = new Map<string, string | null | undefined>();
  for (const o of input.outputs) outputs.set(o.instruction, o.output);
  return Promise.all(
    input.reference.map(async (ref) => {
      const modelOutput = outputs.get(ref.instruction);
      const swapped = isOutputOrderSwapped(input.seed, ref.instruction);
      const base: AlpacaEvalAnnotation = {
        instruction: ref.instruction,
        output_1: ref.output,
        output_2: modelOutput ?? null,
        generator_1: ref.generator,
        generator_2: input.generator,
        preference: null,
        annotator: input.config.annotator,
        is_swapped: swapped,
        order_seed: input.seed,
        raw_completion: null,
        judge_model: null,
        judge_snapshot: null,
        request_sha256: null,
      };
      if (ref.dataset !== undefined) base.dataset = ref.dataset;
      if (modelOutput === null || modelOutput === undefined) return base;
      const [first, second] = swapped ? [modelOutput, ref.output] : [ref.output, modelOutput];
      const c = await input.client.complete(buildAlpacaEvalJudgeRequest(input.config, input.template, ref.instruction, first, second));
      const top = c.topLogprobs?.[0];
      const shown = input.config.parser === "ranking" ? parseRankingPreference(c.content) : parseLogprobPreference(top);
      // The parser speaks of the shown order; 3 - p maps it back to (baseline, model).
      const preference = shown === null ? null : swapped ? 3 - shown : shown;
      const out: AlpacaEvalAnnotation = {
        ...base,
        preference,
        raw_completion: c.content,
        judge_model: c.judgeModel,
        judge_snapshot: c.judgeSnapshot,
        request_sha256: c.requestSha256,
      };
      if (input.config.parser === "logprob" && top) out.raw_top_logprobs = top;
      return out;
    }),
  );
}
