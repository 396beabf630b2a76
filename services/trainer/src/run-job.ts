// One delivery of a train/merge job: stage inputs, resume from the newest complete checkpoint, run the
// runtime, relay its events, upload checkpoints and the result, register it.
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import {
  ArtifactKind,
  type Bus,
  callUnary,
  downloadVerified,
  type JobContext,
  latestCompletePrefix,
  launchRuntime,
  type ObjectStore,
  readManifest,
  RunEvent,
  RUNTIME_EXIT,
  type RuntimeEvent,
  type RuntimeExit,
  Stage,
  type StageJob,
  StageStatus,
  validateRunId,
} from "@mambalign/core";
import { checkpointParent, checkpointPrefix, finalPrefix, stageSlug } from "./checkpoint-keys.js";
import { CheckpointUploader, uploadWithManifest } from "./checkpoint-uploader.js";
import { badJob, dependencyFailure, JobFailure, JobPreempted } from "./errors.js";
import { answerFollowers, rendezvousEnv } from "./follower.js";
import { buildRuntimeSpec, runtimeCommand, writeRuntimeSpec } from "./runtime-spec.js";
import { type Peers, stageInputs } from "./stage-inputs.js";
import type { TrainerOptions } from "./trainer-options.js";
import type { TrainerMetrics } from "./trainer-metrics.js";
import type { WorkerState } from "./worker-status.js";

export interface JobRunnerDeps {
  service: string;
  workDir: string;
  python: string;
  logLevel: string;
  store: ObjectStore;
  bus: Bus;
  logger: Logger;
  metrics: TrainerMetrics;
  peers: Peers;
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

export class JobRun {
  readonly log: Logger;
  readonly #dir: string;
  #relayChain: Promise<void> = Promise.resolve();
  /** The checkpoint prefix this delivery resumes from ("" when fresh), for the other nodes. */
  #resumePrefix = "";
  /** What the runtime resolved the base model to (`started.versions`: model.revision / model.sha256). */
  #modelVersions: Record<string, string> = {};

  constructor(
    private readonly d: JobRunnerDeps,
    private readonly job: StageJob,
    private readonly ctl: JobContext,
  ) {
    this.log = d.logger.child({ jobId: job.jobId, runId: job.runId, stage: Stage[job.stage], delivery: ctl.deliveryCount });
    this.#dir = path.join(d.workDir, job.jobId);
  }

  #runEvent(kind: RunEvent["kind"]): RunEvent {
    return RunEvent.fromPartial({ runId: this.job.runId, stage: this.job.stage, jobId: this.job.jobId, time: new Date(), kind });
  }

  /** Runtime events and log lines are relayed in order; a lost one is logged, never fatal to training. */
  #relay(kind: RunEvent["kind"]): void {
    const ev = this.#runEvent(kind);
    this.#relayChain = this.#relayChain.then(
      () => this.d.bus.publishEvent(ev).then(() => undefined),
    ).catch((err: unknown) => this.log.warn({ err }, "could not publish run event"));
  }

  #logLine(level: "info" | "warn" | "error", message: string): void {
    this.log[level](message);
    this.#relay({ $case: "log", value: { level, message } });
  }

  /** Transitions must arrive: the pipeline advances on them. A failure to publish fails the delivery (retried). */
  async transition(status: StageStatus, message: string, output = ""): Promise<void> {
    await this.#relayChain;
    await this.d.bus.publishEvent(this.#runEvent({ $case: "transition", value: { status, message, output } }));
  }

  async run(): Promise<void> {
    validateJob(this.job);
    await rm(this.#dir, { recursive: true, force: true });
    await mkdir(this.#dir, { recursive: true });
    await this.transition(StageStatus.STAGE_STATUS_RUNNING, `delivery ${this.ctl.deliveryCount} on ${this.d.opts.workerId}`);

    // A delivery that crashed after uploading the result but before registering it: register, do not retrain.
    const final = finalPrefix(this.job.runId, this.job.stage);
    const done = await readManifest(this.d.store, final).catch((err: unknown) => {
      throw dependencyFailure(`reading ${final}/manifest.json`, err);
    });
    if (done) {
      this.#logLine("info", `result already uploaded to ${final}/; registering it`);
      const metrics = JSON.parse(done.meta?.metrics ?? "{}") as Record<string, number>;
      const kind = done.meta?.artifactKind === "model" ? ArtifactKind.ARTIFACT_KIND_MODEL : ArtifactKind.ARTIFACT_KIND_ADAPTER;
      await this.#register(final, kind, metrics);
      return;
    }

    const inputs = await stageInputs(this.d.store, this.d.peers, this.job, path.join(this.#dir, "inputs"));
    const resumeDir = await this.#stageResume();
    // Node 0 of a multi-node stage: the other nodes run the same job from the same checkpoint.
    const followers = this.d.opts.rendezvous.nnodes > 1
      ? answerFollowers(this.d.bus, this.d.opts.rendezvous, { job: this.job, resumePrefix: this.#resumePrefix }, this.log)
      : undefined;
    try {
      await this.#runStaged(inputs, resumeDir);
    } finally {
      followers?.close();
    }
  }

  async #runStaged(inputs: Awaited<ReturnType<typeof stageInputs>>, resumeDir: string): Promise<void> {
    const outputDir = path.join(this.#dir, "out");
    const specFile = path.join(this.#dir, "spec.json");
    await writeRuntimeSpec(specFile, buildRuntimeSpec(this.job, inputs, outputDir));
    if (this.ctl.signal.aborted) throw new JobPreempted("worker stopping before the runtime started");

    const { exit, artifact, error, metrics } = await this.#runRuntime(specFile, resumeDir);
    await this.#relayChain;
    await this.#settle(exit, artifact, error, metrics.values);
  }

  /** Newest checkpoint whose manifest is complete; a prefix without manifest is never looked at. */
  async #stageResume(): Promise<string> {
    if (this.job.stage === Stage.STAGE_MERGE) return "";
    const parent = checkpointParent(this.job.runId, this.job.stage);
    let latest;
    try {
      latest = await latestCompletePrefix(this.d.store, parent);
    } catch (err) {
      throw dependencyFailure(`listing checkpoints under ${parent}/`, err);
    }
    if (!latest) return "";
    this.#resumePrefix = latest.prefix;
    const dir = path.join(this.#dir, "resume", `step-${latest.step}`);
    try {
      await downloadVerified(this.d.store, latest.prefix, dir);
    } catch (err) {
      throw dependencyFailure(`downloading checkpoint ${latest.prefix}/`, err);
    }
    this.#logLine("info", `resuming from checkpoint step ${latest.step} (${this.d.store.uri(latest.prefix)}/)`);
    return dir;
  }

  async #runRuntime(specFile: string, resumeDir: string) {
    const { job, d } = this;
    const slug = stageSlug(job.stage)!;
    const metrics = new FinalMetrics();
    let artifact: { kind: string; path: string } | undefined;
    let error: { message: string; field: string; retryable: boolean } | undefined;
    const uploader = new CheckpointUploader(
      { store: d.store, logger: this.log, metrics: d.metrics, service: d.service },
      (step, r) => {
        if (!r.existed) this.#logLine("info", `checkpoint step ${step} uploaded to ${d.store.uri(r.prefix)}/ (${r.bytes} bytes)`);
      },
      (step, prefix, err) =>
        this.#logLine("error", `checkpoint step ${step} upload to ${prefix}/ failed: ${err instanceof Error ? err.message : String(err)}`),
    );
    const proc = launchRuntime({
      python: d.python,
      command: runtimeCommand(job.stage),
      specFile,
      resumeDir,
      nproc: d.opts.gpus,
      cwd: this.#dir,
      env: { LOG_LEVEL: PY_LOG_LEVEL[d.logLevel] ?? "INFO", ...rendezvousEnv(d.opts.rendezvous, runtimeCommand(job.stage)) },
      logger: this.log,
      onEvent: (ev) => {
        this.#relay({ $case: "runtime", value: ev });
        metrics.add(ev);
        const k = ev.kind;
        switch (k?.$case) {
          case "started":
            this.#modelVersions = k.value.versions;
            d.state.progress(k.value.startStep, k.value.totalSteps);
            d.metrics.step.set({ service: d.service }, k.value.startStep);
            d.metrics.totalSteps.set({ service: d.service }, k.value.totalSteps);
            break;
          case "progress":
            d.state.progress(k.value.step, k.value.total);
            d.metrics.step.set({ service: d.service }, k.value.step);
            d.metrics.tokensPerSecond.set({ service: d.service }, k.value.tokensPerS);
            break;
          case "checkpointSaved":
            uploader.enqueue(k.value.step, checkpointPrefix(job.runId, job.stage, k.value.step), k.value.dir, {
              runId: job.runId,
              stage: slug,
              jobId: job.jobId,
              step: String(k.value.step),
              reason: k.value.reason,
            });
            break;
          case "artifact":
            artifact = k.value;
            break;
          case "error":
            error = k.value;
            break;
        }
      },
    });
    const onAbort = () => proc.preempt(d.opts.checkpointGraceMs);
    this.ctl.signal.addEventListener("abort", onAbort, { once: true });
    if (this.ctl.signal.aborted) onAbort();
    let exit: RuntimeExit;
    try {
      exit = await proc.exited;
    } catch (err) {
      throw new JobFailure(`could not start the runtime (${d.python} -m mambalign_runtime): ${(err as Error).message}`, {
        retryable: false,
        field: "MAMBALIGN_PYTHON",
        cause: err,
      });
    } finally {
      this.ctl.signal.removeEventListener("abort", onAbort);
      // Uploads of every checkpoint the runtime announced finish before the delivery is settled.
      await uploader.drain();
    }
    return { exit, artifact, error, metrics };
  }

  async #settle(
    exit: RuntimeExit,
    artifact: { kind: string; path: string } | undefined,
    error: { message: string; field: string } | undefined,
    metrics: Record<string, number>,
  ): Promise<void> {
    const why = error?.message || exit.stderrTail.slice(-5).join("\n") || "no error event";
    // Runtime exit codes -> job outcome (docs/architecture.md "Runtime contract").
    if (exit.code === RUNTIME_EXIT.ok) {
      if (!artifact) throw new JobFailure("runtime exited 0 without an artifact event", { retryable: true });
      await this.#publishResult(artifact, metrics);
      return;
    }
    // 75: SIGTERM honoured, checkpoint uploaded above; the next delivery resumes from it.
    if (exit.code === RUNTIME_EXIT.preempted) throw new JobPreempted("runtime preempted after a checkpoint");
    // Killed after the grace period while we were stopping: the last uploaded checkpoint stands.
    if (exit.signal && this.ctl.signal.aborted) throw new JobPreempted(`runtime killed by ${exit.signal} while stopping`);
    // 2: the spec or the data is wrong; running it again gives the same answer.
    if (exit.code === RUNTIME_EXIT.invalid) {
      throw new JobFailure(`runtime rejected the job: ${why}`, { retryable: false, field: error?.field ?? "" });
    }
    // 1 or a signal (OOM killer, device fault): another delivery, possibly on another node, may succeed.
    const how = exit.signal ? `killed by ${exit.signal}` : `exited ${exit.code}`;
    throw new JobFailure(`runtime ${how}: ${why}`, { retryable: true, field: error?.field ?? "" });
  }

  async #publishResult(artifact: { kind: string; path: string }, metrics: Record<string, number>): Promise<void> {
    const kind = artifact.kind === "model" ? ArtifactKind.ARTIFACT_KIND_MODEL : ArtifactKind.ARTIFACT_KIND_ADAPTER;
    const prefix = finalPrefix(this.job.runId, this.job.stage);
    const dir = path.isAbsolute(artifact.path) ? artifact.path : path.join(this.#dir, artifact.path);
    let r;
    try {
      r = await uploadWithManifest(
        { store: this.d.store, logger: this.log, metrics: this.d.metrics, service: this.d.service },
        "artifact",
        prefix,
        dir,
        { runId: this.job.runId, stage: stageSlug(this.job.stage)!, jobId: this.job.jobId, artifactKind: artifact.kind, metrics: JSON.stringify(metrics) },
      );
    } catch (err) {
      throw dependencyFailure(`uploading the ${artifact.kind} to ${prefix}/`, err);
    }
    this.#logLine("info", `${artifact.kind} uploaded to ${this.d.store.uri(prefix)}/ (${r.bytes} bytes)`);
    await this.#register(prefix, kind, metrics);
  }

  /** Lineage records the exact base weights: the Hub commit, or the sha256 of a local/staged model. */
  #resolvedBaseModel() {
    const base = this.job.baseModel ?? { uri: "", revision: "", resolved: "" };
    if (base.resolved || this.job.inputVersion) return base;
    const v = this.#modelVersions;
    const resolved = v["model.revision"] || (v["model.sha256"] ? `sha256:${v["model.sha256"]}` : "");
    return { ...base, resolved };
  }

  async #register(prefix: string, kind: ArtifactKind, metrics: Record<string, number>): Promise<void> {
    const { job, d } = this;
    const datasets = [...new Set([job.trainDataset, job.evalDataset].filter(Boolean))];
    let version;
    try {
      const res = await callUnary(
        d.peers.registry.registerVersion.bind(d.peers.registry),
        {
          name: job.outputName,
          kind,
          stage: job.stage,
          baseModel: this.#resolvedBaseModel(),
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
    this.log.info({ version: version.id }, "registered");
    await this.transition(StageStatus.STAGE_STATUS_SUCCEEDED, `registered ${version.id}`, version.id);
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** Message for a FAILED transition: the runtime's message, with the field at fault when it does not already say it. */
export function failureMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const field = err instanceof JobFailure ? err.field : "";
  return field && !msg.includes(field) ? `${msg} (field ${field})` : msg;
}
