// What a stage job tells its run on events.<run_id>: runtime events and log lines (in order, best effort)
// and stage transitions (which must arrive: the pipeline advances on them).
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Bus } from "../bus/bus.js";
import { isRetryable } from "../errors.js";
import { type AdapterVersion, RunEvent, type RuntimeEvent, Stage, type StageJob, type StageStatus } from "../gen/index.js";
import { type RetryPolicy, withRetry } from "../store/retry.js";

/**
 * A publish that fails while NATS is away (a restart, a reconnect) is tried 8 more times (~15 s of backoff): the
 * events of a stage outlive a nats-server restart. Each event has one message id, so a retry after a lost ack is not
 * stored twice.
 */
const PUBLISH_RETRY: RetryPolicy = { retries: 8, baseDelayMs: 250, maxDelayMs: 4_000 };

export class StageEvents {
  #chain: Promise<void> = Promise.resolve();
  readonly #stage: Stage;
  /** Message ids: this instance's nonce (one per delivery) and a counter. */
  readonly #nonce = randomBytes(6).toString("hex");
  #sent = 0;

  constructor(
    private readonly bus: Bus,
    private readonly job: StageJob,
    private readonly log: Logger,
    /** The stage published when the job names none (a run-level event would end the run). */
    defaultStage: Stage = Stage.STAGE_UNSPECIFIED,
  ) {
    this.#stage = job.stage === Stage.STAGE_UNSPECIFIED ? defaultStage : job.stage;
  }

  /** Relays one runtime event after those before it; a lost one is logged, never fatal. */
  runtime(event: RuntimeEvent): Promise<void> {
    return this.#relay({ $case: "runtime", value: event });
  }

  /** Logs here and relays the line to the run. */
  line(level: "info" | "warn" | "error", message: string): Promise<void> {
    this.log[level](message);
    return this.#relay({ $case: "log", value: { level, message } });
  }

  /** Published after every relayed event; a failure to publish throws (retryable), so it is published again. */
  async transition(
    status: StageStatus,
    message: string,
    result: { output?: string; metrics?: Record<string, number>; version?: AdapterVersion } = {},
  ): Promise<void> {
    await this.#chain;
    if (!this.job.runId) return;
    const { output = "", metrics = {}, version: outputVersion } = result;
    await this.#publish(this.#event({ $case: "transition", value: { status, message, output, metrics, outputVersion } }));
  }

  /** Resolves once every relayed event was published (or given up). */
  flush(): Promise<void> {
    return this.#chain;
  }

  #relay(kind: RunEvent["kind"]): Promise<void> {
    if (!this.job.runId) return this.#chain;
    const ev = this.#event(kind);
    this.#chain = this.#chain
      .then(() => this.#publish(ev))
      .then(
        () => undefined,
        (err: unknown) => this.log.warn({ err }, "could not publish a run event"),
      );
    return this.#chain;
  }

  async #publish(ev: RunEvent): Promise<void> {
    const msgId = `${this.job.jobId}.${this.#nonce}.${++this.#sent}`;
    await withRetry(() => this.bus.publishEvent(ev, { msgId }), isRetryable, PUBLISH_RETRY);
  }

  #event(kind: RunEvent["kind"]): RunEvent {
    return RunEvent.fromPartial({ runId: this.job.runId, stage: this.#stage, jobId: this.job.jobId, time: new Date(), kind });
  }
}
