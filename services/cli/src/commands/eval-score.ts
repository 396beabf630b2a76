// `mambalign eval alpaca-score|mt-bench-score`: score judge outputs offline with the evaluator's
// judging code (services/evaluator/src/judging), printing its summary table.
import { scoreAlpacaEvalAnnotationsFile, scoreMtBenchJudgmentsFile } from "@mambalign/evaluator/judging";
import type { CliIo } from "../cli-io.js";

export async function alpacaScoreCommand(io: CliIo, annotations: string, opts: { lcData?: string } = {}): Promise<number> {
  const { summary } = await scoreAlpacaEvalAnnotationsFile(annotations, opts.lcData ? { lcDataDir: opts.lcData } : {});
  io.out.write(summary.endsWith("\n") ? summary : `${summary}\n`);
  return 0;
}

export async function mtBenchScoreCommand(io: CliIo, judgments: string, opts: { questions?: string; model?: string[] }): Promise<number> {
  const { summary } = await scoreMtBenchJudgmentsFile(judgments, {
    ...(opts.questions ? { questionsPath: opts.questions } : {}),
    ...(opts.model?.length ? { models: opts.model } : {}),
  });
  io.out.write(summary.endsWith("\n") ? summary : `${summary}\n`);
  return 0;
}
