// What an eval job tells the run: runtime progress, log lines and stage transitions on events.<run_id>.
import { type Bus, type Logger, type RunEvent, type RuntimeEvent, Stage, type StageJob, StageStatus } from "@mambalign/core";

export class RunEventPublisher {
  constructor(
    private readonly bus: Bus,
    private readonly job: StageJob,
    private readonly logger: Logger,
  ) {}

  /** Relays one runtime event; a lost progress event is logged, never fatal. */
  async runtime(event: RuntimeEvent): Promise<void> {
    await this.#quiet({ $case: "runtime", value: event });
  }

  async log(level: "info" | "warn" | "error", message: string): Promise<void> {
    this.logger[level]({ jobId: this.job.jobId }, message);
    await this.#quiet({ $case: "log", value: { level, message } });
  }

  /** Transitions must arrive: a failure to publish one fails the job (retryable), so it is published again. */
  async transition(status: StageStatus, message: string, output = ""): Promise<void> {
    if (!this.job.runId) return;
    await this.bus.publishEvent(this.#event({ $case: "transition", value: { status, message, output } }));
  }

  async #quiet(kind: RunEvent["kind"]): Promise<void> {
    if (!this.job.runId) return;
    try {
      await this.bus.publishEvent(this.#event(kind));
    } catch (err) {
      this.logger.warn({ err, jobId: this.job.jobId }, "could not publish a run event");
    }
  }

  #event(kind: RunEvent["kind"]): RunEvent {
    return { runId: this.job.runId, stage: Stage.STAGE_EVAL, jobId: this.job.jobId, time: new Date(), kind };
  }
}

export { StageStatus };
