// The one stage-job lifecycle every worker runs (trainer, evaluator): claim → (the run's end?) → an
// earlier delivery's result, or RUNNING → stage inputs → the runtime with a spec → events relayed →
// upload → SUCCEEDED; a failure is retried or FAILED by the one retry decision (bus/settle.ts). A run
// that ends while its job waits or runs (CancelRun) stops the job: the runtime is stopped within
// seconds, nothing is registered, and the job leaves the queue.
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Bus } from "../bus/bus.js";
import type { JobContext, JobHandler } from "../bus/job-worker.js";
import { willRetry } from "../bus/settle.js";
import { ApiError } from "../errors.js";
import { type AdapterVersion, type RunEvent, Stage, type StageJob, StageStatus } from "../gen/index.js";
import { type RunRuntimeOptions, type RuntimeResult, runRuntime } from "../runtime/run-runtime.js";
import { StagePreempted } from "../runtime/runtime-exit.js";
import { StageEvents } from "./stage-events.js";
import { watchRunEnd } from "./run-end.js";

/** The job's run ended (cancelled, or failed elsewhere): its work is moot. Terminated, never retried. */
export class StageCancelled extends ApiError {
  override name = "StageCancelled";
  constructor(message: string, options?: { cause?: unknown }) {
    super(status.CANCELLED, message, {}, { ...options, retryable: false });
  }
}

export type StageOutcome = "succeeded" | "failed" | "retried" | "preempted" | "cancelled";

/**
 * What a stage reports on success: the SUCCEEDED message, its output (a version or evaluation id),
 * metrics, and the registry record of a version it produced (later jobs carry it).
 */
export interface StageResult {
  message: string;
  output: string;
  metrics?: Record<string, number>;
  version?: AdapterVersion;
}

export interface StageContext {
  job: StageJob;
  deliveryCount: number;
  log: Logger;
  events: StageEvents;
  /** Aborts when the worker stops or the run ends: wind down, then throw. */
  signal: AbortSignal;
  /** Throws StageCancelled once the run ended: call before anything irreversible (register, attach). */
  throwIfCancelled(): void;
  /** The runtime with this job's stop and cancel handling; its events go to `onEvent` and to the run. */
  runRuntime(o: Omit<RunRuntimeOptions, "signal" | "graceMs" | "logger" | "python">): Promise<RuntimeResult>;
}

export interface StageWork {
  /** Checks the job before anything is published; throws a non-retryable error naming the field. */
  validate?(job: StageJob): void;
  /** The result an earlier delivery got far enough to leave (its SUCCEEDED may have been lost), if any. */
  finished?(ctx: StageContext): Promise<StageResult | undefined>;
  /** The RUNNING transition's message. */
  running(ctx: StageContext): string;
  run(ctx: StageContext): Promise<StageResult>;
  /** Each delivery's outcome, for metrics. */
  outcome?(outcome: StageOutcome, ctx: StageContext): void;
}

export interface StageWorkerOptions {
  bus: Bus;
  logger: Logger;
  python: string;
  /** The job worker's max_deliver: the last delivery's failure is final. */
  maxDeliver: number;
  /** After the worker is asked to stop, how long the runtime may take to checkpoint before SIGKILL (none: wait). */
  stopGraceMs?: number;
  /** After the run ends, how long the runtime may take to exit on SIGTERM before SIGKILL. */
  cancelGraceMs?: number;
  /** The stage of this worker's events when a job names none (the evaluator's direct jobs: EVAL). */
  defaultStage?: Stage;
}

export const STAGE_WORKER_DEFAULTS = { cancelGraceMs: 5_000 } as const;

/** Message for a FAILED transition: the error's message, with the field at fault when it does not already say it. */
export function failureMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const field = err instanceof ApiError ? err.field : undefined;
  return field && !msg.includes(field) ? `${msg} (field ${field})` : msg;
}

export function stageJobHandler(o: StageWorkerOptions, work: StageWork): JobHandler {
  const cancelGraceMs = o.cancelGraceMs ?? STAGE_WORKER_DEFAULTS.cancelGraceMs;
  return async (job: StageJob, ctl: JobContext) => {
    const log = o.logger.child({ jobId: job.jobId, runId: job.runId, stage: Stage[job.stage], delivery: ctl.deliveryCount });
    const events = new StageEvents(o.bus, job, log, o.defaultStage);
    const stop = new AbortController();
    let runEnd: RunEvent | undefined;
    const onWorkerStop = () => stop.abort(new StagePreempted("the worker is stopping"));
    ctl.signal.addEventListener("abort", onWorkerStop, { once: true });
    if (ctl.signal.aborted) onWorkerStop();
    const cancelled = (cause?: unknown) =>
      new StageCancelled(`run ${job.runId} ended (${runEnd?.kind?.$case === "transition" ? StageStatus[runEnd.kind.value.status] : "?"}): ${job.jobId} stopped`, { cause });
    const ctx: StageContext = {
      job,
      deliveryCount: ctl.deliveryCount,
      log,
      events,
      signal: stop.signal,
      throwIfCancelled() {
        if (runEnd) throw cancelled();
      },
      runRuntime: (r) =>
        runRuntime({
          ...r,
          python: o.python,
          logger: log,
          signal: stop.signal,
          graceMs: () => (runEnd ? cancelGraceMs : o.stopGraceMs),
          onEvent(ev) {
            void events.runtime(ev);
            r.onEvent?.(ev);
          },
        }),
    };
    const watching = new AbortController();
    try {
      work.validate?.(job);
      if (job.runId) {
        const watch = watchRunEnd(o.bus, job.runId, watching.signal, log);
        // A bus error here says itself whether a retry helps (NATS down: yes; a bad run id: no).
        runEnd = await watch.past;
        if (runEnd) throw cancelled();
        void watch.ended.then((ev) => {
          runEnd = ev;
          log.info("the run ended; stopping the job");
          stop.abort(cancelled());
        });
      }
      let result = await work.finished?.(ctx);
      if (!result) {
        await events.transition(StageStatus.STAGE_STATUS_RUNNING, work.running(ctx));
        result = await work.run(ctx);
      }
      await events.transition(StageStatus.STAGE_STATUS_SUCCEEDED, result.message, result);
      work.outcome?.("succeeded", ctx);
    } catch (caught) {
      // Whatever the work threw while its run was ending is the cancellation.
      const err = runEnd && !(caught instanceof StageCancelled) ? cancelled(caught) : caught;
      if (err instanceof StageCancelled) {
        work.outcome?.("cancelled", ctx);
        log.info({ reason: err.message }, "job of an ended run dropped");
      } else if (willRetry(err, ctl.deliveryCount, o.maxDeliver)) {
        const preempted = err instanceof StagePreempted;
        work.outcome?.(preempted ? "preempted" : "retried", ctx);
        const why = preempted ? "preempted; it resumes from its last checkpoint" : "will retry";
        await events.line("warn", `delivery ${ctl.deliveryCount} ${why}: ${failureMessage(err)}`);
      } else {
        work.outcome?.("failed", ctx);
        // The job leaves the queue: tell the pipeline why, naming the field at fault.
        await events
          .transition(StageStatus.STAGE_STATUS_FAILED, failureMessage(err))
          .catch((e: unknown) => log.error({ err: e }, "could not publish the FAILED transition"));
      }
      throw err;
    } finally {
      watching.abort();
      ctl.signal.removeEventListener("abort", onWorkerStop);
      await events.flush();
    }
  };
}
