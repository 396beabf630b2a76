// Public face of the trainer: a GPU job worker plus the TrainerService gRPC API.
import path from "node:path";
import {
  createClient,
  JOB_SUBJECTS,
  ModelStager,
  RegistryServiceClient,
  type ServiceDeps,
  type StartedService,
  TrainerServiceService,
  stageJobHandler,
  WorkerStatus,
} from "@mambalign/core";
import { type FollowerDeps, runAsFollower } from "./follower.js";
import { type JobRunnerDeps, type Peers, trainerWork } from "./run-job.js";
import { trainerServiceImpl } from "./trainer-grpc.js";
import { trainerMetrics } from "./trainer-metrics.js";
import { loadTrainerOptions, type TrainerOptions } from "./trainer-options.js";
import { WorkerState } from "./worker-status.js";

export { listCompleteCheckpoints } from "./trainer-grpc.js";
export { checkpointParent, checkpointPrefix, finalPrefix, stageSlug } from "./checkpoint-keys.js";
export { JobFailure } from "./errors.js";
export { loadTrainerOptions, TRAINER_DEFAULTS, type TrainerOptions } from "./trainer-options.js";

export const WORKERS_BUCKET = "workers";

export interface TrainerServiceOptions extends Partial<TrainerOptions> {
  /** The registry client; default: a client for deps.config.addrs.registry. */
  peers?: Peers;
}

export interface StartedTrainer extends StartedService {
  /** Resolves when the job worker stopped: after stop(), or by itself once maxJobs jobs ran. */
  done: Promise<void>;
}

export async function startTrainerService(deps: ServiceDeps, options: TrainerServiceOptions = {}): Promise<StartedTrainer> {
  const { peers: givenPeers, ...overrides } = options;
  const opts: TrainerOptions = { ...loadTrainerOptions(), ...overrides };
  const logger = deps.logger.child({ service: "trainer", workerId: opts.workerId });
  const metrics = trainerMetrics(deps.metrics);
  const state = new WorkerState(opts.workerId, logger);
  const kv = await deps.bus.kv(WORKERS_BUCKET, { encode: WorkerStatus.toJSON, decode: WorkerStatus.fromJSON });
  state.startHeartbeat(kv, opts.heartbeatMs);
  const peers = givenPeers ?? { registry: createClient(RegistryServiceClient, deps.config.addrs.registry, deps.config.security.client) };
  const models = new ModelStager(deps.store, deps.config.dataRoots, path.join(deps.config.workDir, "models"));
  const runnerDeps: JobRunnerDeps = { service: "trainer", workDir: deps.config.workDir, logLevel: deps.config.logLevel, store: deps.store, bus: deps.bus, logger, metrics, peers, models, state, opts };
  if (opts.rendezvous.nodeRank > 0) return startFollower({ ...runnerDeps, python: deps.config.python }, givenPeers === undefined);
  const handle = stageJobHandler(
    { bus: deps.bus, logger, python: deps.config.python, maxDeliver: opts.maxDeliver, stopGraceMs: opts.checkpointGraceMs },
    trainerWork(runnerDeps),
  );
  let jobsRun = 0;
  const worker = deps.bus.startJobWorker({
    durable: "trainer",
    subjects: [JOB_SUBJECTS.train, JOB_SUBJECTS.merge],
    ackWaitMs: opts.ackWaitMs,
    maxDeliver: opts.maxDeliver,
    retryBackoff: opts.retryBackoff,
    handler: async (job, ctl) => {
      state.jobStarted(job);
      try {
        await handle(job, ctl);
      } finally {
        for (const gauge of [metrics.step, metrics.totalSteps, metrics.tokensPerSecond]) gauge.set({ service: "trainer" }, 0);
        jobsRun++;
        // Stop pulling once the handler returned; the worker still settles this job first.
        if (opts.maxJobs > 0 && jobsRun >= opts.maxJobs) {
          logger.info({ jobsRun }, "MAMBALIGN_TRAINER_MAX_JOBS reached; stopping");
          setImmediate(() => void worker.stop());
        }
      }
    },
  });
  logger.info({ maxJobs: opts.maxJobs, graceMs: opts.checkpointGraceMs, ackWaitMs: opts.ackWaitMs }, "trainer worker started");

  let stopping: Promise<void> | undefined;
  return {
    name: "trainer",
    bindings: [
      {
        name: "mambalign.v1.TrainerService",
        definition: TrainerServiceService,
        implementation: trainerServiceImpl({ service: "trainer", logger, metrics: deps.metrics }, deps.store, state),
      },
    ],
    done: worker.stopped,
    stop: () =>
      (stopping ??= (async () => {
        // Aborting the worker makes a running job forward SIGTERM, wait for the checkpoint, upload it and nak.
        await worker.stop().catch((err: unknown) => logger.error({ err }, "job worker ended with an error"));
        await state.stopHeartbeat();
        if (!givenPeers) peers.registry.close();
      })()),
  };
}

/** Node rank > 0 of a multi-node stage: no queue; runs node 0's job as its rank, then stops (follower.ts). */
function startFollower(d: FollowerDeps, ownPeers: boolean): StartedTrainer {
  const abort = new AbortController();
  d.logger.info({ rendezvous: d.opts.rendezvous }, "trainer following node 0 of its rendezvous");
  const done = runAsFollower(d, abort.signal).finally(async () => {
    await d.state.stopHeartbeat();
    if (ownPeers) d.peers.registry.close();
  });
  done.catch(() => undefined); // observed by main through `done`
  return {
    name: "trainer",
    bindings: [],
    done,
    stop: async () => {
      abort.abort();
      await done.catch(() => undefined);
    },
  };
}
