// The dashboard's data endpoints: what the pages show, read through the APIs with the user's credential and
// returned as the contracts' own proto3 JSON (enum names, RFC 3339 times), so the page needs no second schema.
import type { Metadata } from "@grpc/grpc-js";
import { AdapterVersion, callUnary, Run, StageStatus, stageName, WorkerStatus } from "@mambalign/core";
import { renderEvalReportHtml } from "@mambalign/evaluator/judging";
import type { ApiClients } from "./api-clients.js";

const newestFirst = (a: Run, b: Run) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0);

export async function runsView(apis: ApiClients, md: Metadata): Promise<unknown> {
  const { runs } = await callUnary(apis.pipeline.listRuns.bind(apis.pipeline), {}, { metadata: md });
  return { runs: runs.sort(newestFirst).map((r) => Run.toJSON(r)) };
}

export async function runView(apis: ApiClients, md: Metadata, id: string): Promise<unknown> {
  const { run } = await callUnary(apis.pipeline.getRun.bind(apis.pipeline), { id }, { metadata: md });
  return { run: run ? Run.toJSON(run) : null };
}

/**
 * Jobs waiting for a worker (a stage or baseline evaluation published but not yet picked up), jobs running (each
 * stage's message names its worker), and the trainer worker at the configured address (`mambalign up` has one;
 * a cluster's trainer replicas have no Service, so there the running jobs are the picture of the workers).
 */
export async function queueView(apis: ApiClients, md: Metadata): Promise<unknown> {
  const { runs } = await callUnary(apis.pipeline.listRuns.bind(apis.pipeline), {}, { metadata: md });
  type Job = { runId: string; jobId: string; stage: string; status: string; step?: number; totalSteps?: number };
  const queued: Job[] = [];
  const running: Job[] = [];
  for (const run of runs.sort(newestFirst).reverse()) {
    const jobs = [
      ...run.stages.map((s) => ({ jobId: s.jobId, status: s.status, job: { runId: run.id, jobId: s.jobId, stage: stageName(s.stage), status: StageStatus[s.status], step: s.step, totalSteps: s.totalSteps } })),
      ...run.baselines.map((b) => ({ jobId: b.jobId, status: b.status, job: { runId: run.id, jobId: b.jobId, stage: `eval (${b.label})`, status: StageStatus[b.status] } })),
    ];
    for (const j of jobs) {
      if (!j.jobId) continue;
      if (j.status === StageStatus.STAGE_STATUS_PENDING) queued.push(j.job);
      else if (j.status === StageStatus.STAGE_STATUS_RUNNING) running.push(j.job);
    }
  }
  let workers: unknown[] = [];
  let workerError = "";
  const trainer = apis.trainer;
  if (trainer) {
    try {
      const { worker } = await callUnary(trainer.getWorker.bind(trainer), {}, { metadata: md, deadlineMs: 5_000 });
      if (worker) workers = [WorkerStatus.toJSON(worker)];
    } catch (err) {
      workerError = err instanceof Error ? err.message.slice(0, 300) : "unreachable";
    }
  }
  return { queued, running, workers, workerError };
}

/** Every version with its lineage (parent), aliases and evaluations; the file manifests stay out (large). */
export async function registryView(apis: ApiClients, md: Metadata): Promise<unknown> {
  const { versions } = await callUnary(apis.registry.listVersions.bind(apis.registry), { name: "" }, { metadata: md });
  return { versions: versions.map((v) => AdapterVersion.toJSON({ ...v, manifest: [] })) };
}

/** The evaluation's report: the page `mambalign` writes offline (charts inline as SVG, no scripts). */
export async function evalReportPage(apis: ApiClients, md: Metadata, id: string): Promise<string> {
  const got = await callUnary(apis.evaluator.getEvaluation.bind(apis.evaluator), { id, includeResults: true }, { metadata: md });
  return renderEvalReportHtml(JSON.parse(got.resultsJson));
}
