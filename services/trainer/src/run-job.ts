// The trainer's part of the stage lifecycle (core's stageJobHandler) for train/merge jobs: stage inputs,
// resume from the newest complete checkpoint, run the runtime, upload checkpoints and the result, register it.
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import {
  ArtifactKind,
  type Bus,
  callUnary,
  downloadVerified,
  latestCompletePrefix,
  type Logger,
  type ModelStager,
  type ObjectStore,
  readManifest,
  type RegistryServiceClient,
  type RuntimeEvent,
  Stage,
  type StageContext,
  type StageJob,
  type StageResult,
  type StageWork,
  validateRunId,
} from "@mambalign/core";
import { checkpointParent, checkpointPrefix, finalPrefix, stageSlug } from "./checkpoint-keys.js";
import { CheckpointUploader, uploadWithManifest } from "./checkpoint-uploader.js";
import { badJob, dependencyFailure, JobFailure } from "./errors.js";
import { answerFollowers, rendezvousEnv } from "./follower.js";
import { registryTags, tagMlflowRun } from "./mlflow-link.js";
import { buildRuntimeSpec, runtimeCommand } from "./runtime-spec.js";
import { stageInputs } from "./stage-inputs.js";
import { TrackerFiles } from "./tracker-files.js";
import type { TrainerOptions } from "./trainer-options.js";
import type { TrainerMetrics } from "./trainer-metrics.js";
import type { WorkerState } from "./worker-status.js";

/** The services a job reaches: the registry, which records its result. */
export interface Peers {
  registry: RegistryServiceClient;
}

export interface JobRunnerDeps {
  service: string;
  workDir: string;
  logLevel: string;
  store: ObjectStore;
  bus: Bus;
  logger: Logger;
  metrics: TrainerMetrics;
  peers: Peers;
  /** Stages models for the runtime (cached across jobs under the work dir). */
  models: ModelStager;
  state: WorkerState;
  opts: TrainerOptions;
}

const REGISTER_DEADLINE_MS = 10 * 60_000;

// Python's logging knows no "silent"/"fatal"/"trace": map pino levels onto its names.
const PY_LOG_LEVEL: Record<string, string> = {
  trace: "DEBUG",
  debug: "DEBUG",
  info: "INFO",
  warn: "WARNING",
  error: "ERROR",
  fatal: "CRITICAL",
  silent: "CRITICAL",
};

/** The runtime's environment for `command`: its log level, and the rendezvous of a multi-node stage. */
export function runtimeEnv(d: Pick<JobRunnerDeps, "logLevel" | "opts">, command: string): Record<string, string> {
  return { LOG_LEVEL: PY_LOG_LEVEL[d.logLevel] ?? "INFO", ...rendezvousEnv(d.opts.rendezvous, command) };
}

function validateJob(job: StageJob): void {
  try {
    validateRunId(job.runId, "runId");
  } catch (err) {
    throw dependencyFailure("runId", err, "runId");
  }
  // The job id names the work dir: one safe path segment.
  if (!/^[A-Za-z0-9_.-]{1,250}$/.test(job.jobId) || job.jobId === "." || job.jobId === "..") {
    throw badJob("jobId", `${JSON.stringify(job.jobId)} is not a valid job id ("<run_id>.<stage>.<attempt>")`);
  }
  runtimeCommand(job.stage);
  if (!job.outputName) throw badJob("outputName", "is empty: the registry name the result is published under");
}

/** Final numbers of a run, for the registry: last loss, last per-step extras, last metrics reports. */
class FinalMetrics {
  readonly values: Record<string, number> = {};
  add(ev: RuntimeEvent): void {
    const k = ev.kind;
    if (k?.$case === "progress") {
      this.values["train/loss"] = k.value.loss;
      for (const [name, v] of Object.entries(k.value.extra)) this.values[name] = v;
    } else if (k?.$case === "metrics") {
      for (const [name, v] of Object.entries(k.value.values)) this.values[name] = v;
    }
  }
}

export function trainerWork(d: JobRunnerDeps): StageWork {
  const dirOf = (job: StageJob) => path.join(d.workDir, job.jobId);
  const out = { service: d.service };
  return {
    validate: validateJob,
    // A delivery that crashed after uploading the result but before registering it: register, do not retrain.
    async finished(ctx) {
      const final = finalPrefix(ctx.job.runId, ctx.job.stage);
      const done = await readManifest(d.store, final).catch((err: unknown) => {
        throw dependencyFailure(`reading ${final}/manifest.json`, err);
      });
      if (!done) return undefined;
      void ctx.events.line("info", `result already uploaded to ${final}/; registering it`);
      const metrics = JSON.parse(done.meta?.metrics ?? "{}") as Record<string, number>;
      const kind = done.meta?.artifactKind === "model" ? ArtifactKind.ARTIFACT_KIND_MODEL : ArtifactKind.ARTIFACT_KIND_ADAPTER;
      return register(d, ctx, final, kind, metrics, {});
    },
    running: (ctx) => `delivery ${ctx.deliveryCount} on ${d.opts.workerId}`,
    async run(ctx) {
      const dir = dirOf(ctx.job);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const inputs = await stageInputs(d.store, d.models, ctx.job, path.join(dir, "inputs"));
      const resume = await stageResume(d, ctx, dir);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // Node 0 of a multi-node stage: the other nodes run the same job from the same checkpoint (follower.ts).
      const followers = d.opts.rendezvous.nnodes > 1 ? answerFollowers(d.bus, d.opts.rendezvous, { job: ctx.job, resumePrefix: resume.prefix }, ctx.log) : undefined;
      let trained;
      try {
        trained = await train(d, ctx, dir, buildRuntimeSpec(ctx.job, inputs, path.join(dir, "out")), resume.dir);
      } finally {
        followers?.close();
      }
      const { artifact, metrics, modelVersions } = trained;
      const result = await publishResult(d, ctx, dir, artifact, metrics, modelVersions);
      await rm(dir, { recursive: true, force: true });
      return result;
    },
    outcome(outcome) {
      d.metrics.jobs.inc({ ...out, outcome });
      d.state.jobEnded(outcome === "succeeded");
    },
  };
}

/**
 * Newest checkpoint whose manifest is complete (a prefix without manifest is never looked at): its prefix
 * and where it was downloaded; both "" for a fresh start.
 */
async function stageResume(d: JobRunnerDeps, ctx: StageContext, jobDir: string): Promise<{ prefix: string; dir: string }> {
  const fresh = { prefix: "", dir: "" };
  if (ctx.job.stage === Stage.STAGE_MERGE) return fresh;
  const parent = checkpointParent(ctx.job.runId, ctx.job.stage);
  let latest;
  try {
    latest = await latestCompletePrefix(d.store, parent);
  } catch (err) {
    throw dependencyFailure(`listing checkpoints under ${parent}/`, err);
  }
  if (!latest) return fresh;
  const dir = path.join(jobDir, "resume", `step-${latest.step}`);
  try {
    await downloadVerified(d.store, latest.prefix, dir);
  } catch (err) {
    throw dependencyFailure(`downloading checkpoint ${latest.prefix}/`, err);
  }
  void ctx.events.line("info", `resuming from checkpoint step ${latest.step} (${d.store.uri(latest.prefix)}/)`);
  return { prefix: latest.prefix, dir };
}

/** Runs the runtime; every checkpoint it announces is uploaded before this returns or throws. */
async function train(d: JobRunnerDeps, ctx: StageContext, dir: string, spec: ReturnType<typeof buildRuntimeSpec>, resumeDir: string) {
  const { job } = ctx;
  const slug = stageSlug(job.stage)!;
  const metrics = new FinalMetrics();
  let modelVersions: Record<string, string> = {};
  const uploader = new CheckpointUploader(
    { store: d.store, logger: ctx.log, metrics: d.metrics, service: d.service },
    (step, r) => {
      if (!r.existed) void ctx.events.line("info", `checkpoint step ${step} uploaded to ${d.store.uri(r.prefix)}/ (${r.bytes} bytes)`);
    },
    (step, prefix, err) => void ctx.events.line("error", `checkpoint step ${step} upload to ${prefix}/ failed: ${err instanceof Error ? err.message : String(err)}`),
  );
  const out = { service: d.service };
  // report_to's TensorBoard / W&B files go to the store with each checkpoint and when the runtime exits.
  const trackerFiles = new TrackerFiles(d.store, spec.outputDir, job.runId, job.stage);
  const syncTrackerFiles = () =>
    trackerFiles.sync().catch((err: unknown) => {
      void ctx.events.line("error", `storing the trackers' files (report_to) failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  try {
    const { artifact } = await ctx.runRuntime({
      spec,
      dir,
      resumeDir,
      nproc: d.opts.gpus,
      env: runtimeEnv(d, spec.command),
      onEvent: (ev) => {
        metrics.add(ev);
        const k = ev.kind;
        switch (k?.$case) {
          case "started":
            modelVersions = k.value.versions;
            d.state.progress(k.value.startStep, k.value.totalSteps);
            d.metrics.step.set(out, k.value.startStep);
            d.metrics.totalSteps.set(out, k.value.totalSteps);
            break;
          case "progress":
            d.state.progress(k.value.step, k.value.total);
            d.metrics.step.set(out, k.value.step);
            d.metrics.tokensPerSecond.set(out, k.value.tokensPerS);
            break;
          case "checkpointSaved":
            uploader.enqueue(k.value.step, checkpointPrefix(job.runId, job.stage, k.value.step), k.value.dir, {
              runId: job.runId,
              stage: slug,
              jobId: job.jobId,
              step: String(k.value.step),
              reason: k.value.reason,
            });
            void syncTrackerFiles();
            break;
        }
      },
    });
    if (!artifact) throw new JobFailure("runtime exited 0 without an artifact event", { retryable: true });
    return { artifact, metrics: metrics.values, modelVersions };
  } finally {
    // Uploads of every checkpoint the runtime announced finish before the delivery is settled.
    await Promise.all([uploader.drain(), syncTrackerFiles()]);
  }
}

async function publishResult(
  d: JobRunnerDeps,
  ctx: StageContext,
  jobDir: string,
  artifact: { kind: string; path: string },
  metrics: Record<string, number>,
  modelVersions: Record<string, string>,
): Promise<StageResult> {
  const { job } = ctx;
  ctx.throwIfCancelled();
  const kind = artifact.kind === "model" ? ArtifactKind.ARTIFACT_KIND_MODEL : ArtifactKind.ARTIFACT_KIND_ADAPTER;
  const prefix = finalPrefix(job.runId, job.stage);
  const dir = path.isAbsolute(artifact.path) ? artifact.path : path.join(jobDir, artifact.path);
  let r;
  try {
    r = await uploadWithManifest(
      { store: d.store, logger: ctx.log, metrics: d.metrics, service: d.service },
      "artifact",
      prefix,
      dir,
      { runId: job.runId, stage: stageSlug(job.stage)!, jobId: job.jobId, artifactKind: artifact.kind, metrics: JSON.stringify(metrics) },
    );
  } catch (err) {
    throw dependencyFailure(`uploading the ${artifact.kind} to ${prefix}/`, err);
  }
  void ctx.events.line("info", `${artifact.kind} uploaded to ${d.store.uri(prefix)}/ (${r.bytes} bytes)`);
  return register(d, ctx, prefix, kind, metrics, modelVersions);
}

/** report_to "mlflow": the stage's MLflow run gets tags naming the version just registered. Registration
 * stands whatever MLflow answers: a failure is reported on the run's events, not retried. */
async function linkMlflowRun(d: JobRunnerDeps, ctx: StageContext, modelVersions: Record<string, string>, version: { id: string; uri: string }) {
  const runId = modelVersions["mlflow.run_id"];
  const uri = modelVersions["mlflow.tracking_uri"];
  if (!runId || !uri) return;
  try {
    await tagMlflowRun(uri, runId, registryTags(version), d.opts.mlflowAuth);
    void ctx.events.line("info", `MLflow run ${runId} tagged with registry version ${version.id}`);
  } catch (err) {
    void ctx.events.line("warn", `MLflow run ${runId} not tagged with ${version.id}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Lineage records the exact base weights: the Hub commit, or the sha256 of a local/staged model. */
function resolvedBaseModel(job: StageJob, modelVersions: Record<string, string>) {
  const base = job.baseModel ?? { uri: "", revision: "", resolved: "" };
  if (base.resolved || job.inputVersion) return base;
  const v = modelVersions;
  const resolved = v["model.revision"] || (v["model.sha256"] ? `sha256:${v["model.sha256"]}` : "");
  return { ...base, resolved };
}

async function register(
  d: JobRunnerDeps,
  ctx: StageContext,
  prefix: string,
  kind: ArtifactKind,
  metrics: Record<string, number>,
  modelVersions: Record<string, string>,
): Promise<StageResult> {
  const { job } = ctx;
  // A cancelled run registers nothing and moves no alias.
  ctx.throwIfCancelled();
  const datasets = [...new Set([job.trainDataset, job.evalDataset].filter(Boolean))];
  let version;
  try {
    const res = await callUnary(
      d.peers.registry.registerVersion.bind(d.peers.registry),
      {
        name: job.outputName,
        kind,
        stage: job.stage,
        baseModel: resolvedBaseModel(job, modelVersions),
        parent: job.inputVersion,
        runId: job.runId,
        // No trailing "/": store.keyFromUri (what a registry resolves it with) refuses one.
        sourceUri: d.store.uri(prefix),
        metrics,
        datasets,
      },
      { deadlineMs: REGISTER_DEADLINE_MS },
    );
    version = res.version;
  } catch (err) {
    throw dependencyFailure(`RegisterVersion ${JSON.stringify(job.outputName)}`, err);
  }
  if (!version?.id) throw new JobFailure("RegisterVersion returned no version", { retryable: true });
  ctx.log.info({ version: version.id }, "registered");
  await linkMlflowRun(d, ctx, modelVersions, version);
  return { message: `registered ${version.id}`, output: version.id, version };
}
