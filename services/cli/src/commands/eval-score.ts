// `mambalign eval alpaca-score|mt-bench-score`: score judge outputs offline with the evaluator's
// judging code (services/evaluator/src/judging), printing its summary table or the scores as data.
import { scoreAlpacaEvalAnnotationsFile, scoreMtBenchJudgmentsFile } from "@mambalign/evaluator/judging";
import type { CliIo } from "../cli-io.js";
import { type OutputFormat, printData } from "../output-format.js";

export async function alpacaScoreCommand(io: CliIo, annotations: string, opts: { lcData?: string; output: OutputFormat }): Promise<number> {
  const { scores, summary } = await scoreAlpacaEvalAnnotationsFile(annotations, opts.lcData ? { lcDataDir: opts.lcData } : {});
  printData(io, opts.output, scores, () => summary);
  return 0;
}

export async function mtBenchScoreCommand(io: CliIo, judgments: string, opts: { questions?: string; model?: string[]; output: OutputFormat }): Promise<number> {
  const { scores, summary } = await scoreMtBenchJudgmentsFile(judgments, {
    ...(opts.questions ? { questionsPath: opts.questions } : {}),
    ...(opts.model?.length ? { models: opts.model } : {}),
  });
  printData(io, opts.output, scores, () => summary);
  return 0;
}
