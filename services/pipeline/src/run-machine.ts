// The run state machine as pure functions: (run, input) -> (next run, jobs to publish, events to emit).
// The service applies them under KV compare-and-set; being pure, they are tested alone and make
// replayed events harmless (an event that changes nothing yields changed: false).
import {
  type AdapterVersion,
  type DatasetVersion,
  type JobSubject,
  JOB_SUBJECTS,
  type Recipe,
  type Run,
  type RunEvent,
  type RunEvent_StageTransition,
  RunStatus,
  Stage,
  type StageJob,
  type StageState,
  StageStatus,
  stageName,
} from "@mambalign/core";
import { jobId } from "./run-ids.js";

/** Dataset versions prepared for a run ("" where the recipe has no such data). */
export interface RunDatasets {
  sft: string;
  dpo: string;
  /** URI of the eval stage's exact-match question set after preparation (normalised SFT rows). */
  evalQuestions: string;
  /** The versions of `sft` and `dpo`, which their jobs carry. */
  sftData: DatasetVersion | undefined;
  dpoData: DatasetVersion | undefined;
}

/** The datasets recorded on the run by beginRun. */
function runDatasets(run: Run): RunDatasets {
  return { sft: run.trainDatasetSft, dpo: run.trainDatasetDpo, evalQuestions: run.evalQuestions, sftData: run.sftData, dpoData: run.dpoData };
}

export interface QueuedJob {
  subject: JobSubject;
  job: StageJob;
}

export interface Step {
  run: Run;
  changed: boolean;
  jobs: QueuedJob[];
  events: RunEvent[];
}

export function isTerminal(status: RunStatus): boolean {
  return status === RunStatus.RUN_STATUS_SUCCEEDED || status === RunStatus.RUN_STATUS_FAILED || status === RunStatus.RUN_STATUS_CANCELLED;
}

export function isStageDone(status: StageStatus): boolean {
  return status === StageStatus.STAGE_STATUS_SUCCEEDED || status === StageStatus.STAGE_STATUS_FAILED || status === StageStatus.STAGE_STATUS_CANCELLED;
}

/** A new run: every stage of the recipe pending (attempt 0: not yet queued), datasets still to prepare. */
export function newRun(args: { id: string; requestId: string; recipe: Recipe; warnings: string[]; now: Date; startedBy?: string }): Run {
  return {
    id: args.id,
    requestId: args.requestId,
    recipe: args.recipe,
    status: RunStatus.RUN_STATUS_PENDING,
    stages: args.recipe.stages.map((stage) => emptyStage(stage)),
    trainDatasetSft: "",
    trainDatasetDpo: "",
    evalQuestions: "",
    startedBy: args.startedBy ?? "",
    sftData: undefined,
    dpoData: undefined,
    message: "preparing datasets",
    createdAt: args.now,
    updatedAt: args.now,
    warnings: args.warnings,
    baselines: baselinesFor(args.recipe).map((label) => ({
      label,
      versionId: "",
      jobId: "",
      status: StageStatus.STAGE_STATUS_PENDING,
      output: "",
      metrics: {},
      message: "",
    })),
  };
}

/**
 * Baseline evaluations a recipe gets: the base model whenever something is trained before the eval
 * stage, and the SFT adapter when DPO follows it (otherwise the eval stage itself measures SFT).
 */
function baselinesFor(recipe: Recipe): string[] {
  const has = (s: Stage) => recipe.stages.includes(s);
  if (!has(Stage.STAGE_EVAL)) return [];
  const out: string[] = [];
  if (has(Stage.STAGE_SFT) || has(Stage.STAGE_DPO)) out.push("base");
  if (has(Stage.STAGE_SFT) && has(Stage.STAGE_DPO)) out.push("sft");
  return out;
}

function emptyStage(stage: Stage): StageState {
  return {
    stage,
    status: StageStatus.STAGE_STATUS_PENDING,
    attempt: 0,
    jobId: "",
    output: "",
    message: "",
    step: 0,
    totalSteps: 0,
    metrics: {},
    startedAt: undefined,
    finishedAt: undefined,
    outputVersion: undefined,
  };
}

const unchanged = (run: Run): Step => ({ run, changed: false, jobs: [], events: [] });

function clone(run: Run): Run {
  return structuredClone(run);
}

/** Datasets are ready: record them and queue the first stage. Only from PENDING before any stage was queued. */
export function beginRun(run: Run, datasets: RunDatasets, now: Date): Step {
  if (run.status !== RunStatus.RUN_STATUS_PENDING || run.stages.some((s) => s.attempt > 0)) return unchanged(run);
  const next = clone(run);
  next.trainDatasetSft = datasets.sft;
  next.trainDatasetDpo = datasets.dpo;
  next.evalQuestions = datasets.evalQuestions;
  next.sftData = datasets.sftData;
  next.dpoData = datasets.dpoData;
  next.status = RunStatus.RUN_STATUS_RUNNING;
  next.message = "";
  next.updatedAt = now;
  const step: Step = { run: next, changed: true, jobs: [], events: [] };
  if (next.stages.length === 0) return finish(step, RunStatus.RUN_STATUS_SUCCEEDED, "nothing to run", now);
  queueStage(step, 0, datasets, now);
  queueBaseline(step, "base", "", datasets, now);
  return step;
}

/**
 * Ends a run that never got going or broke outside a stage (dataset preparation, a bad job). Its
 * unfinished stages and baselines end CANCELLED: they will never run, and must not read "pending".
 */
export function failRun(run: Run, message: string, now: Date): Step {
  if (isTerminal(run.status)) return unchanged(run);
  const step: Step = { run: clone(run), changed: true, jobs: [], events: [] };
  for (const s of step.run.stages) {
    if (isStageDone(s.status)) continue;
    s.status = StageStatus.STAGE_STATUS_CANCELLED;
    s.message = "not run: the run failed";
    if (s.attempt > 0) s.finishedAt = now;
  }
  for (const b of step.run.baselines) if (!isStageDone(b.status)) b.status = StageStatus.STAGE_STATUS_CANCELLED;
  return finish(step, RunStatus.RUN_STATUS_FAILED, message, now);
}

/** Marks the run and its unfinished stages CANCELLED; later events for it are ignored. */
export function cancelRun(run: Run, message: string, now: Date): Step {
  if (isTerminal(run.status)) return unchanged(run);
  const step: Step = { run: clone(run), changed: true, jobs: [], events: [] };
  for (const s of step.run.stages) {
    if (!isStageDone(s.status)) {
      s.status = StageStatus.STAGE_STATUS_CANCELLED;
      if (s.attempt > 0) s.finishedAt = now;
    }
  }
  for (const b of step.run.baselines) if (!isStageDone(b.status)) b.status = StageStatus.STAGE_STATUS_CANCELLED;
  return finish(step, RunStatus.RUN_STATUS_CANCELLED, message, now);
}

/**
 * Applies one RunEvent. Only events of the current attempt of a stage count (matched by job id),
 * and only while the run is live, so replays, stale attempts and other runs' events change nothing.
 A SUCCEEDED transition carries the stage's metrics (an evaluation's); the run record holds the
 * datasets later stages need.
 */
export function applyEvent(run: Run, ev: RunEvent, now: Date): Step {
  if (isTerminal(run.status) || ev.runId !== run.id || !ev.jobId) return unchanged(run);
  const b = run.baselines.findIndex((x) => x.jobId === ev.jobId);
  if (b >= 0) return applyBaseline(run, b, ev, now);
  const index = run.stages.findIndex((s) => s.jobId === ev.jobId && s.attempt > 0);
  if (index < 0) return unchanged(run);
  const current = run.stages[index]!;
  if (isStageDone(current.status)) return unchanged(run);
  const kind = ev.kind;
  if (kind?.$case === "transition") return applyTransition(run, index, kind.value, ev.time ?? now, now);
  if (kind?.$case === "runtime") {
    const rt = kind.value.kind;
    const next = clone(run);
    const s = next.stages[index]!;
    if (rt?.$case === "started") {
      s.step = rt.value.startStep;
      s.totalSteps = rt.value.totalSteps;
      markRunning(s, ev.time ?? now);
    } else if (rt?.$case === "progress") {
      const p = rt.value;
      s.step = p.step;
      if (p.total) s.totalSteps = p.total;
      // Merge and eval report progress of their own (files, generation batches): no training metrics.
      if (s.stage === Stage.STAGE_SFT || s.stage === Stage.STAGE_DPO) {
        s.metrics["train/loss"] = p.loss;
        s.metrics["train/learning_rate"] = p.lr;
        s.metrics["train/tokens_per_s"] = p.tokensPerS;
        for (const [k, v] of Object.entries(p.extra)) s.metrics[k] = v;
      }
      markRunning(s, ev.time ?? now);
    } else if (rt?.$case === "metrics") {
      for (const [k, v] of Object.entries(rt.value.values)) s.metrics[k] = v;
    } else {
      return unchanged(run);
    }
    next.updatedAt = now;
    return { run: next, changed: true, jobs: [], events: [] };
  }
  return unchanged(run);
}

/**
 * Why a started stage is delivered again: the worker's hand-back message (a PENDING transition), else
 * what is known: the last delivery did not finish (a retried failure, a worker crash or a lost lease;
 * the run's events say which).
 */
function redeliveryReason(runId: string, s: StageState): string {
  if (s.status === StageStatus.STAGE_STATUS_PENDING && s.message) return s.message;
  return `the previous delivery did not finish (a retried failure, worker crash or lost lease; \`mambalign logs -f ${runId}\` shows its events)`;
}

function markRunning(s: StageState, at: Date): void {
  if (s.status === StageStatus.STAGE_STATUS_PENDING) s.status = StageStatus.STAGE_STATUS_RUNNING;
  s.startedAt ??= at;
}

function applyTransition(run: Run, index: number, t: RunEvent_StageTransition, at: Date, now: Date): Step {
  const next = clone(run);
  const s = next.stages[index]!;
  const step: Step = { run: next, changed: true, jobs: [], events: [] };
  next.updatedAt = now;
  switch (t.status) {
    case StageStatus.STAGE_STATUS_PENDING:
      // A worker handed the job back (preempted, redelivered): it waits for the next worker.
      if (s.status === StageStatus.STAGE_STATUS_PENDING && s.message === t.message) return unchanged(run);
      s.status = StageStatus.STAGE_STATUS_PENDING;
      s.message = t.message;
      return step;
    case StageStatus.STAGE_STATUS_RUNNING:
      if (s.status === StageStatus.STAGE_STATUS_RUNNING && s.message.startsWith(t.message)) return unchanged(run);
      // A worker sends RUNNING once per delivery: a second one while started is a redelivery, and the
      // stage says which delivery runs now and why the last one did not finish.
      if (s.startedAt) s.message = `${t.message} (redelivered: ${redeliveryReason(next.id, s)})`;
      else s.message = t.message;
      markRunning(s, at);
      return step;
    case StageStatus.STAGE_STATUS_SUCCEEDED: {
      if (!t.output) {
        return stageFailed(step, s, `${stageName(s.stage)} finished without an output version`, at, now);
      }
      // A trained version's registry record comes with it: the next jobs carry it, resolved.
      if (s.stage !== Stage.STAGE_EVAL && t.outputVersion?.id !== t.output) {
        return stageFailed(step, s, `${stageName(s.stage)} finished without the registry record of its output version ${t.output}`, at, now);
      }
      s.status = StageStatus.STAGE_STATUS_SUCCEEDED;
      s.output = t.output;
      s.outputVersion = t.outputVersion;
      s.message = t.message;
      s.startedAt ??= at;
      s.finishedAt = at;
      if (s.totalSteps > 0) s.step = Math.max(s.step, s.totalSteps);
      Object.assign(s.metrics, t.metrics);
      if (s.stage === Stage.STAGE_SFT) queueBaseline(step, "sft", s.output, runDatasets(next), now);
      if (index + 1 < next.stages.length) {
        queueStage(step, index + 1, runDatasets(next), now);
        return step;
      }
      return finishIfDone(step, now);
    }
    case StageStatus.STAGE_STATUS_FAILED:
    case StageStatus.STAGE_STATUS_CANCELLED:
      return stageFailed(step, s, t.message || `${stageName(s.stage)} ${t.status === StageStatus.STAGE_STATUS_FAILED ? "failed" : "was cancelled by its worker"}`, at, now);
    default:
      return unchanged(run);
  }
}

/** A baseline evaluation's transition; its outcome never fails the run, but the run waits for it. */
function applyBaseline(run: Run, index: number, ev: RunEvent, now: Date): Step {
  const cur = run.baselines[index]!;
  if (isStageDone(cur.status) || ev.kind?.$case !== "transition") return unchanged(run);
  const t = ev.kind.value;
  const next = clone(run);
  const b = next.baselines[index]!;
  const step: Step = { run: next, changed: true, jobs: [], events: [] };
  next.updatedAt = now;
  switch (t.status) {
    case StageStatus.STAGE_STATUS_PENDING:
    case StageStatus.STAGE_STATUS_RUNNING:
      if (b.status === t.status) return unchanged(run);
      b.status = t.status;
      return step;
    case StageStatus.STAGE_STATUS_SUCCEEDED:
      b.status = t.status;
      b.output = t.output;
      b.message = t.message;
      Object.assign(b.metrics, t.metrics);
      return finishIfDone(step, now);
    case StageStatus.STAGE_STATUS_FAILED:
    case StageStatus.STAGE_STATUS_CANCELLED:
      b.status = StageStatus.STAGE_STATUS_FAILED;
      b.message = t.message || "baseline evaluation failed";
      return finishIfDone(step, now);
    default:
      return unchanged(run);
  }
}

/** Succeeds the run once every stage succeeded and every queued baseline evaluation ended. */
function finishIfDone(step: Step, now: Date): Step {
  const run = step.run;
  if (!run.stages.every((s) => s.status === StageStatus.STAGE_STATUS_SUCCEEDED)) return step;
  if (run.baselines.some((b) => b.jobId && !isStageDone(b.status))) {
    run.message = "waiting for baseline evaluations";
    return step;
  }
  return finish(step, RunStatus.RUN_STATUS_SUCCEEDED, "", now);
}

function stageFailed(step: Step, s: StageState, message: string, at: Date, now: Date): Step {
  s.status = StageStatus.STAGE_STATUS_FAILED;
  s.message = message;
  s.finishedAt = at;
  for (const later of step.run.stages) {
    if (later.attempt === 0) later.status = StageStatus.STAGE_STATUS_CANCELLED;
  }
  return finish(step, RunStatus.RUN_STATUS_FAILED, `${stageName(s.stage)} failed: ${message}`, now);
}

/** Sets the run's end state and emits the run-level event (stage UNSPECIFIED) that ends WatchRun. */
function finish(step: Step, status: RunStatus, message: string, now: Date): Step {
  const run = step.run;
  run.status = status;
  run.message = message;
  run.updatedAt = now;
  const last = [...run.stages].reverse().find((s) => s.output);
  step.events.push(runLevelEvent(run, now, last?.output ?? ""));
  return step;
}

const STAGE_STATUS_OF_RUN: Partial<Record<RunStatus, StageStatus>> = {
  [RunStatus.RUN_STATUS_SUCCEEDED]: StageStatus.STAGE_STATUS_SUCCEEDED,
  [RunStatus.RUN_STATUS_FAILED]: StageStatus.STAGE_STATUS_FAILED,
  [RunStatus.RUN_STATUS_CANCELLED]: StageStatus.STAGE_STATUS_CANCELLED,
};

/** The event marking the run's end; the only event the pipeline emits with stage UNSPECIFIED. */
export function runLevelEvent(run: Run, now: Date, output: string): RunEvent {
  return {
    runId: run.id,
    stage: Stage.STAGE_UNSPECIFIED,
    jobId: "",
    time: now,
    kind: {
      $case: "transition",
      value: { status: STAGE_STATUS_OF_RUN[run.status] ?? StageStatus.STAGE_STATUS_UNSPECIFIED, message: run.message || "run succeeded", output, metrics: {}, outputVersion: undefined },
    },
  };
}

// The run-level end marker (runLevelEvent) is a contract with the workers, which stop on it: core defines it.
export { isRunEndEvent } from "@mambalign/core";

function queueStage(step: Step, index: number, datasets: RunDatasets, now: Date): void {
  const run = step.run;
  const s = run.stages[index]!;
  s.attempt += 1;
  s.jobId = jobId(run.id, s.stage, s.attempt);
  s.status = StageStatus.STAGE_STATUS_PENDING;
  s.message = "queued";
  const job = planJob(run, s.stage, s.attempt, datasets);
  step.jobs.push({ subject: subjectOf(s.stage), job });
  step.events.push({
    runId: run.id,
    stage: s.stage,
    jobId: s.jobId,
    time: now,
    kind: { $case: "transition", value: { status: StageStatus.STAGE_STATUS_PENDING, message: "queued", output: "", metrics: {}, outputVersion: undefined } },
  });
}

/** Queues a baseline evaluation (if the run has one of that label): same inputs as the eval stage. */
function queueBaseline(step: Step, label: string, versionId: string, datasets: RunDatasets, now: Date): void {
  const run = step.run;
  const b = run.baselines.find((x) => x.label === label);
  if (!b || b.jobId) return;
  b.versionId = versionId;
  b.jobId = `${run.id}.eval-${label}.1`;
  b.status = StageStatus.STAGE_STATUS_PENDING;
  const job: StageJob = { ...planJob(run, Stage.STAGE_EVAL, 1, datasets), jobId: b.jobId, inputVersion: versionId, lineage: lineageOf(run, versionId) };
  step.jobs.push({ subject: JOB_SUBJECTS.eval, job });
}

export function subjectOf(stage: Stage): JobSubject {
  if (stage === Stage.STAGE_MERGE) return JOB_SUBJECTS.merge;
  if (stage === Stage.STAGE_EVAL) return JOB_SUBJECTS.eval;
  return JOB_SUBJECTS.train;
}

function outputOf(run: Run, stage: Stage): string {
  const s = run.stages.find((x) => x.stage === stage);
  return s?.status === StageStatus.STAGE_STATUS_SUCCEEDED ? s.output : "";
}

/** A version of this run and its ancestors, nearest first, from the stages' recorded registry versions. */
function lineageOf(run: Run, versionId: string): AdapterVersion[] {
  const byId = new Map(run.stages.flatMap((s) => (s.outputVersion ? [[s.outputVersion.id, s.outputVersion] as const] : [])));
  const out: AdapterVersion[] = [];
  for (let v = byId.get(versionId); v && out.length < byId.size; v = byId.get(v.parent)) out.push(v);
  return out;
}

/** Registry name a stage publishes under: one name per stage kind, so each lineage step is listed apart. */
export function outputName(recipe: Recipe, stage: Stage): string {
  const suffix = { [Stage.STAGE_SFT]: "-sft", [Stage.STAGE_MERGE]: "-sft-merged", [Stage.STAGE_DPO]: "-dpo" } as Partial<Record<Stage, string>>;
  return `${recipe.name}${suffix[stage] ?? ""}`;
}

/**
 * The StageJob of one stage attempt. Inputs follow the lineage: MERGE takes the SFT adapter, DPO the
 * merged model (a fresh adapter on it; base_model stays the run's base for lineage), EVAL the last
 * trained version ("" = the base model when nothing was trained).
 * Datasets: SFT/DPO train on `train_dataset`'s train split and may evaluate on its test split
 * (`eval_dataset` names the same version). EVAL: see evalInputs. The job carries its inputs resolved
 * (dataset versions, the input version's lineage) from the run record: workers ask no other service.
 */
export function planJob(run: Run, stage: Stage, attempt: number, datasets: RunDatasets): StageJob {
  const recipe = run.recipe!;
  const base = recipe.model ?? { uri: "", revision: "", resolved: "" };
  const job: StageJob = {
    jobId: jobId(run.id, stage, attempt),
    runId: run.id,
    stage,
    attempt,
    baseModel: base,
    inputVersion: "",
    trainDataset: "",
    evalDataset: "",
    recipe: undefined,
    eval: undefined,
    outputName: outputName(recipe, stage),
    prefsDataset: "",
    trainData: undefined,
    evalData: undefined,
    lineage: [],
  };
  switch (stage) {
    case Stage.STAGE_SFT:
      job.recipe = recipe.sft;
      job.trainDataset = datasets.sft;
      job.evalDataset = datasets.sft;
      job.trainData = job.evalData = datasets.sftData;
      break;
    case Stage.STAGE_MERGE:
      job.recipe = recipe.sft;
      job.inputVersion = outputOf(run, Stage.STAGE_SFT);
      break;
    case Stage.STAGE_DPO:
      job.recipe = recipe.dpo;
      job.inputVersion = outputOf(run, Stage.STAGE_MERGE);
      job.trainDataset = datasets.dpo;
      job.evalDataset = datasets.dpo;
      job.trainData = job.evalData = datasets.dpoData;
      break;
    case Stage.STAGE_EVAL:
      job.inputVersion = outputOf(run, Stage.STAGE_DPO) || outputOf(run, Stage.STAGE_SFT);
      Object.assign(job, evalInputs(run, datasets));
      break;
  }
  job.lineage = lineageOf(run, job.inputVersion);
  return job;
}

/**
 * What an eval job reads besides the version: `prefs_dataset` is the preference data whose test split
 * gives preference accuracy, `eval_dataset` the SFT data whose test split gives perplexity, and
 * `eval.exact_match_dataset` the prepared question set's URI (exact match).
 */
export function evalInputs(run: Run, datasets: RunDatasets): Pick<StageJob, "evalDataset" | "prefsDataset" | "trainDataset" | "eval"> {
  const recipeEval = run.recipe?.eval;
  return {
    trainDataset: "",
    evalDataset: datasets.sft,
    prefsDataset: datasets.dpo,
    eval: recipeEval ? { ...recipeEval, exactMatchDataset: datasets.evalQuestions || recipeEval.exactMatchDataset } : undefined,
  };
}
