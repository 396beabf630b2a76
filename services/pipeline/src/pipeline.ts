// The pipeline's behaviour: accepting runs, preparing their data, advancing them on events, cancelling.
import {
  ApiError,
  type Bus,
  type ClientSecurity,
  createClient,
  DatasetServiceClient,
  type Logger,
  type Metrics,
  type ObjectStore,
  Recipe,
  redactRecipeSecrets,
  Run,
  RunStatus,
  type RunEvent,
  Stage,
} from "@mambalign/core";
import { DatasetPrepError, prepareRunDatasets } from "./dataset-prep.js";
import { acceptRecipe } from "./recipe-guard.js";
import { isRunId, newRunId, runObjectKeys, validateRequestId, validateRunId } from "./run-ids.js";
import { applyEvent, beginRun, cancelRun, failRun, isTerminal, newRun, type RunDatasets, type Step } from "./run-machine.js";
import { RunStore } from "./run-store.js";

export interface PipelineDeps {
  bus: Bus;
  store: ObjectStore;
  logger: Logger;
  metrics: Metrics;
  /** Address of the DatasetService. */
  datasetsAddr: string;
  /** This service's own token (and TLS) for its calls to the datasets service. */
  peerSecurity?: ClientSecurity;
  now?: () => Date;
}

/** How long a StartRun that lost the request-id race waits for the winner's run to appear. */
const CLAIMED_RUN_WAIT_MS = 10_000;

export class Pipeline {
  readonly #bg = new Set<Promise<void>>();
  #datasetClient: DatasetServiceClient | undefined;
  readonly #now: () => Date;
  readonly #counters;

  private constructor(
    private readonly deps: PipelineDeps,
    readonly runs: RunStore,
  ) {
    this.#now = deps.now ?? (() => new Date());
    const m = deps.metrics;
    this.#counters = {
      started: m.counter("mambalign_pipeline_runs_started_total", "Runs accepted by StartRun"),
      finished: m.counter("mambalign_pipeline_runs_finished_total", "Runs that ended, by status", ["status"]),
      jobs: m.counter("mambalign_pipeline_stage_jobs_total", "Stage jobs published, by stage", ["stage"]),
      events: m.counter("mambalign_pipeline_events_total", "Run events handled, by whether they changed a run", ["changed"]),
      rejected: m.counter("mambalign_pipeline_runs_rejected_total", "StartRun calls rejected as invalid"),
    };
  }

  static async open(deps: PipelineDeps): Promise<Pipeline> {
    return new Pipeline(deps, await RunStore.open(deps.bus));
  }

  get logger(): Logger {
    return this.deps.logger;
  }

  /** Accepts a run: validate, claim the request id, write the run and its recipe, prepare data in the background. */
  async startRun(recipeYaml: string, requestId: string, startedBy = ""): Promise<Run> {
    let accepted;
    try {
      validateRequestId(requestId);
      accepted = acceptRecipe(recipeYaml);
    } catch (err) {
      this.#counters.rejected.inc();
      throw err;
    }
    const existing = await this.runs.runIdFor(requestId);
    if (existing) return this.#claimedRun(existing);

    const now = this.#now();
    const { recipe, warnings } = accepted;
    const run = newRun({
      id: newRunId(recipe.name, now),
      requestId,
      recipe,
      warnings: warnings.map((w) => `${w.key}: ${w.message}`),
      now,
      startedBy,
    });
    if (!(await this.runs.claimRequest(requestId, run.id))) {
      const winner = await this.runs.runIdFor(requestId);
      if (!winner) throw ApiError.unavailable(`request_id ${requestId}: claimed by another call but not readable yet; retry`);
      return this.#claimedRun(winner);
    }
    // The run record first, then its artifacts: a failure undoes both and gives the request id back,
    // so nothing is left without a run (nor a run without its recipe).
    const keys = runObjectKeys(run.id);
    let created = false;
    try {
      this.#checkRecordSize(run);
      await this.runs.create(run);
      created = true;
      // Stored for audit without its secrets (hub_token, URL passwords): those belong in the environment.
      await this.deps.store.put(keys.recipeYaml, redactRecipeSecrets(recipeYaml), { contentType: "application/yaml" });
    } catch (err) {
      if (created) await this.runs.delete(run.id).catch(() => undefined);
      await this.runs.releaseRequest(requestId).catch(() => undefined);
      throw err;
    }
    this.#counters.started.inc();
    this.deps.logger.info({ runId: run.id, requestId, startedBy, stages: recipe.stages.map((s) => Stage[s]) }, "run accepted");
    this.#background(this.#prepare(run.id));
    return run;
  }

  /** The run record is one NATS message: one the server would refuse is refused here, naming sizes. */
  #checkRecordSize(run: Run): void {
    const limit = this.deps.bus.nc.info?.max_payload ?? 1024 * 1024;
    const size = Buffer.byteLength(JSON.stringify(Run.toJSON(run)), "utf8");
    // Half: the record grows with the run's progress (stages, metrics, messages).
    if (size > limit / 2) {
      throw ApiError.invalidArgument("recipe_yaml", `makes a run record of ${size} bytes; the limit is ${Math.floor(limit / 2)} bytes (half the NATS max_payload ${limit})`);
    }
  }

  async #claimedRun(runId: string): Promise<Run> {
    const run = (await this.runs.get(runId))?.value ?? (await this.runs.waitFor(runId, CLAIMED_RUN_WAIT_MS));
    if (!run) throw ApiError.unavailable(`run ${runId} of this request_id is not written yet; retry`);
    return run;
  }

  #background(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => this.deps.logger.error({ err }, "background run task failed"));
    this.#bg.add(tracked);
    void tracked.finally(() => this.#bg.delete(tracked));
  }

  /** Prepares datasets, records them, and queues the first stage; a bad dataset fails the run. */
  async #prepare(runId: string): Promise<void> {
    const cur = (await this.runs.get(runId))?.value;
    if (!cur?.recipe) return;
    let datasets: RunDatasets;
    try {
      datasets = await prepareRunDatasets(this.#datasetsClient(), this.deps.store, cur.recipe);
    } catch (err) {
      if (!(err instanceof DatasetPrepError)) throw err;
      this.deps.logger.warn({ runId, err: err.cause }, "dataset preparation failed");
      await this.#apply(runId, (run) => failRun(run, err.message, this.#now()));
      return;
    }
    const keys = runObjectKeys(runId);
    const { sft, dpo, evalQuestions } = datasets;
    const resolved = { run_id: runId, recipe: Recipe.toJSON(cur.recipe), datasets: { sft, dpo, evalQuestions } };
    await this.deps.store.put(keys.recipeJson, JSON.stringify(resolved, null, 2), { contentType: "application/json" });
    await this.#apply(runId, (run) => beginRun(run, datasets, this.#now()));
  }

  #datasetsClient(): DatasetServiceClient {
    return (this.#datasetClient ??= createClient(DatasetServiceClient, this.deps.datasetsAddr, this.deps.peerSecurity));
  }

  /** Runs whose datasets were never prepared (the process stopped first) are picked up again. */
  async resumePending(): Promise<void> {
    for (const run of await this.runs.list()) {
      if (run.status === RunStatus.RUN_STATUS_PENDING && run.stages.every((s) => s.attempt === 0)) this.#background(this.#prepare(run.id));
    }
  }

  /** CAS-applies a transition; publishes its jobs before the write (deduplicated) and its events after. */
  async #apply(runId: string, fn: (run: Run) => Step): Promise<Step | null> {
    const step = await this.runs.update(
      runId,
      (run) => {
        const s = fn(run);
        return s.changed ? s : null;
      },
      async (s) => {
        for (const { subject, job } of s.jobs) {
          const { duplicate } = await this.deps.bus.publishJob(subject, job);
          if (!duplicate) this.#counters.jobs.inc({ stage: Stage[job.stage] ?? String(job.stage) });
          this.deps.logger.info({ runId, jobId: job.jobId, subject, duplicate }, "stage job published");
        }
      },
    );
    if (!step) return null;
    for (const ev of step.events) await this.deps.bus.publishEvent(ev);
    const status = step.run.status;
    if (isTerminal(status) && step.events.some((e) => e.stage === Stage.STAGE_UNSPECIFIED)) {
      this.#counters.finished.inc({ status: RunStatus[status] ?? String(status) });
      this.deps.logger.info({ runId, status, message: step.run.message }, "run ended");
    }
    return step;
  }

  /** Whether `runId` is a run of this pipeline (events may name anything). */
  async knowsRun(runId: string): Promise<boolean> {
    return isRunId(runId) && Boolean((await this.runs.get(runId))?.value);
  }

  /** Handler of the durable "pipeline" consumer over every run's events. */
  async handleEvent(ev: RunEvent): Promise<void> {
    // Our own run-level events, and events of runs this pipeline does not know, change nothing.
    if (ev.stage === Stage.STAGE_UNSPECIFIED || !ev.jobId || !isRunId(ev.runId)) return;
    const step = await this.#apply(ev.runId, (run) => applyEvent(run, ev, this.#now()));
    this.#counters.events.inc({ changed: step ? "true" : "false" });
  }

  async getRun(runId: string): Promise<Run> {
    const run = (await this.runs.get(validateRunId(runId)))?.value;
    if (!run) throw ApiError.notFound("run", runId);
    return run;
  }

  async cancel(runId: string): Promise<Run> {
    await this.getRun(runId);
    const step = await this.#apply(runId, (run) => cancelRun(run, "cancelled by request", this.#now()));
    return step?.run ?? this.getRun(runId);
  }

  /** Waits for background dataset preparation (used at shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#bg]);
    this.#datasetClient?.close();
  }
}
