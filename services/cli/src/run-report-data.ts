// What `mambalign report RUN` draws, gathered through the API only: the run's events replayed by WatchRun (from
// the pipeline's stored history once the stream has forgotten them), GetRun, the registry's lineage and the
// evaluator's results.
import {
  type AdapterVersion,
  callUnary,
  type PipelineServiceClient,
  type RegistryServiceClient,
  type Run,
  Stage,
  streamResponses,
  type WatchRunResponse,
} from "@mambalign/core";
import { type StepRow, trainingStepOf } from "@mambalign/core/charts";
import { type EvalResults, parseEvalResults } from "@mambalign/evaluator/judging";
import { evaluatorClient, pipelineClient, registryClient } from "./clients.js";

export interface RunReportData {
  run: Run;
  steps: StepRow[];
  /** Evaluation results of the run's final eval stage (it carries the lineage's earlier entries), if any. */
  evalResults: EvalResults | undefined;
  /** The run's final version and its ancestors, newest first. */
  lineage: AdapterVersion[];
}

/** Replays the run's events from the start; the last snapshot is the run as it stands. */
async function replaySteps(client: PipelineServiceClient, runId: string): Promise<{ run: Run | undefined; steps: StepRow[] }> {
  let run: Run | undefined;
  const steps: StepRow[] = [];
  for await (const res of streamResponses<WatchRunResponse>(client.watchRun({ id: runId, fromSeq: 0n }))) {
    run = res.run ?? run;
    const step = res.event && trainingStepOf(res.event);
    if (step) steps.push(step);
  }
  return { run, steps };
}

async function lineageOf(client: RegistryServiceClient, id: string): Promise<AdapterVersion[]> {
  const chain: AdapterVersion[] = [];
  const seen = new Set<string>();
  for (let next = id; next && !seen.has(next); ) {
    seen.add(next);
    const { version } = await callUnary(client.getVersion.bind(client), { id: next });
    chain.push(version!);
    next = version!.parent;
  }
  return chain;
}

export async function fetchRunReportData(addr: string, runId: string): Promise<RunReportData> {
  const pipeline = pipelineClient(addr);
  const registry = registryClient(addr);
  const evaluator = evaluatorClient(addr);
  try {
    const { run: replayed, steps } = await replaySteps(pipeline, runId);
    const run = replayed ?? (await callUnary(pipeline.getRun.bind(pipeline), { id: runId })).run!;
    const outputOf = (stage: Stage) => run.stages.find((s) => s.stage === stage)?.output ?? "";
    const evalId = outputOf(Stage.STAGE_EVAL);
    let evalResults: EvalResults | undefined;
    if (evalId) {
      const got = await callUnary(evaluator.getEvaluation.bind(evaluator), { id: evalId, includeResults: true });
      evalResults = parseEvalResults(JSON.parse(got.resultsJson));
    }
    const last = [Stage.STAGE_DPO, Stage.STAGE_MERGE, Stage.STAGE_SFT].map(outputOf).find(Boolean);
    return { run, steps, evalResults, lineage: last ? await lineageOf(registry, last) : [] };
  } finally {
    pipeline.close();
    registry.close();
    evaluator.close();
  }
}
