// This worker's status: served by GetWorker and written to the `workers` KV bucket as a heartbeat.
import type { Logger } from "pino";
import { type ProtoKv, Stage, type StageJob, WorkerStatus } from "@mambalign/core";

export class WorkerState {
  #status: WorkerStatus;
  #kv: ProtoKv<WorkerStatus> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(
    workerId: string,
    private readonly logger: Logger,
  ) {
    this.#status = WorkerStatus.fromPartial({ workerId });
  }

  get status(): WorkerStatus {
    return WorkerStatus.fromPartial(this.#status);
  }

  /** Starts writing the status every intervalMs (and now). */
  startHeartbeat(kv: ProtoKv<WorkerStatus>, intervalMs: number): void {
    this.#kv = kv;
    this.#timer = setInterval(() => void this.publish(), intervalMs);
    this.#timer.unref();
    void this.publish();
  }

  /** Stops the heartbeat and removes this worker's key: a stopped worker is not a worker. */
  async stopHeartbeat(): Promise<void> {
    clearInterval(this.#timer);
    await this.#writing;
    await this.#kv?.delete(this.#status.workerId).catch((err: unknown) => this.logger.warn({ err }, "could not delete worker key"));
  }

  jobStarted(job: StageJob): void {
    Object.assign(this.#status, {
      busy: true,
      jobId: job.jobId,
      runId: job.runId,
      stage: job.stage,
      step: 0,
      totalSteps: 0,
      startedAt: new Date(),
    });
    void this.publish();
  }

  progress(step: number, totalSteps: number): void {
    this.#status.step = step;
    if (totalSteps) this.#status.totalSteps = totalSteps;
  }

  jobEnded(succeeded: boolean): void {
    Object.assign(this.#status, {
      busy: false,
      jobId: "",
      runId: "",
      stage: Stage.STAGE_UNSPECIFIED,
      step: 0,
      totalSteps: 0,
      startedAt: undefined,
      jobsCompleted: this.#status.jobsCompleted + (succeeded ? 1 : 0),
    });
    void this.publish();
  }

  /** Writes are chained so the bucket never goes back to an older status. */
  publish(): Promise<void> {
    const kv = this.#kv;
    if (!kv) return this.#writing;
    const snapshot = this.status;
    this.#writing = this.#writing
      .then(() => kv.put(snapshot.workerId, snapshot))
      .then(
        () => undefined,
        (err: unknown) => this.logger.warn({ err }, "worker heartbeat write failed"),
      );
    return this.#writing;
  }
}
