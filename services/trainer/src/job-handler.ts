// Runs one delivery and turns its outcome into metrics, worker status and (when final) a FAILED transition.
import type { JobContext, StageJob } from "@mambalign/core";
import { isRetryable, StageStatus } from "@mambalign/core";
import { JobFailure, JobPreempted } from "./errors.js";
import { failureMessage, type JobRunnerDeps, JobRun } from "./run-job.js";

export function jobHandler(d: JobRunnerDeps): (job: StageJob, ctl: JobContext) => Promise<void> {
  return async (job, ctl) => {
    const run = new JobRun(d, job, ctl);
    d.state.jobStarted(job);
    const out = { service: d.service };
    try {
      await run.run();
      d.metrics.jobs.inc({ ...out, outcome: "succeeded" });
      d.state.jobEnded(true);
    } catch (err) {
      d.state.jobEnded(false);
      const retryable = isRetryable(err);
      // The job worker terminates a retryable failure on the last allowed delivery too.
      const final = !retryable || ctl.deliveryCount >= d.opts.maxDeliver;
      if (err instanceof JobPreempted && !final) {
        d.metrics.jobs.inc({ ...out, outcome: "preempted" });
        run.log.info({ reason: err.message }, "job preempted; it will be redelivered and resume from its last checkpoint");
        throw err;
      }
      d.metrics.jobs.inc({ ...out, outcome: final ? "failed" : "retried" });
      if (final) {
        // The job leaves the queue: tell the pipeline why, naming the field at fault.
        await run
          .transition(StageStatus.STAGE_STATUS_FAILED, failureMessage(err))
          .catch((e: unknown) => run.log.error({ err: e }, "could not publish the FAILED transition"));
      }
      // The job worker acks/naks/terminates from `retryable`.
      throw err instanceof JobFailure ? err : new JobFailure(failureMessage(err), { retryable, cause: err });
    } finally {
      d.metrics.step.set(out, 0);
      d.metrics.totalSteps.set(out, 0);
      d.metrics.tokensPerSecond.set(out, 0);
    }
  };
}
