// `mambalign eval alpaca-score|mt-bench-score`: score judge outputs offline with the evaluator's
// judging code (services/evaluator/src/judging), printing its summary table.
import type { CliIo } from "../cli-io.js";
import { CliError } from "../cli-io.js";

interface Judging {
  scoreAlpacaEvalAnnotationsFile(path: string): Promise<{ summary: string }>;
  scoreMtBenchJudgmentsFile(path: string, opts: { questionsPath?: string; models?: string[] }): Promise<{ summary: string }>;
}

// The judging functions are the evaluator package's subpath export "./judging" (or its main entry).
// Specifiers are resolved at run time so the CLI builds whichever of the two the package offers.
const JUDGING_MODULES = ["@mambalign/evaluator/judging", "@mambalign/evaluator"];

async function judging(): Promise<Judging> {
  for (const spec of JUDGING_MODULES) {
    try {
      const mod = (await import(spec)) as Partial<Judging>;
      if (typeof mod.scoreAlpacaEvalAnnotationsFile === "function" && typeof mod.scoreMtBenchJudgmentsFile === "function") return mod as Judging;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ERR_PACKAGE_PATH_NOT_EXPORTED" && code !== "ERR_MODULE_NOT_FOUND") throw err;
    }
  }
  throw new CliError("the evaluator's judging functions are not available in this installation (@mambalign/evaluator/judging)");
}

export async function alpacaScoreCommand(io: CliIo, annotations: string): Promise<number> {
  const { summary } = await (await judging()).scoreAlpacaEvalAnnotationsFile(annotations);
  io.out.write(summary.endsWith("\n") ? summary : `${summary}\n`);
  return 0;
}

export async function mtBenchScoreCommand(io: CliIo, judgments: string, opts: { questions?: string; model?: string[] }): Promise<number> {
  const { summary } = await (await judging()).scoreMtBenchJudgmentsFile(judgments, {
    ...(opts.questions ? { questionsPath: opts.questions } : {}),
    ...(opts.model?.length ? { models: opts.model } : {}),
  });
  io.out.write(summary.endsWith("\n") ? summary : `${summary}\n`);
  return 0;
}
