// Public face of the evaluator service: eval job worker (jobs.eval) + EvaluatorService.
import { createClient, Evaluation, JOB_SUBJECTS, RegistryServiceClient, type ServiceDeps, type StartedService } from "@mambalign/core";
import { createEvalJobHandler } from "./eval-job.js";
import { evaluatorServiceBinding } from "./evaluator-grpc.js";
import { type EvaluatorOptions, loadEvaluatorOptions } from "./evaluator-options.js";

export { type EvaluatorOptions, loadEvaluatorOptions } from "./evaluator-options.js";
export { type Benchmark } from "./benchmarks.js";

export const EVALS_BUCKET = "evals";

export type StartEvaluatorOptions = Partial<EvaluatorOptions>;

/** Starts the eval job worker (durable "evaluator" on jobs.eval) and returns the EvaluatorService binding. */
export async function startEvaluatorService(deps: ServiceDeps, opts: StartEvaluatorOptions = {}): Promise<StartedService> {
  const options: EvaluatorOptions = { ...loadEvaluatorOptions(), ...opts };
  const evals = await deps.bus.kv(EVALS_BUCKET, { encode: Evaluation.toJSON, decode: Evaluation.fromJSON });
  // The registry records each evaluation on the version it measured (AttachEval).
  const registry = createClient(RegistryServiceClient, deps.config.addrs.registry, deps.config.security.client);
  const logger = deps.logger.child({ component: "evaluator" });
  const worker = deps.bus.startJobWorker({
    durable: "evaluator",
    subjects: [JOB_SUBJECTS.eval],
    ackWaitMs: options.ackWaitMs,
    maxDeliver: options.maxDeliver,
    retryBackoff: options.retryBackoff,
    handler: createEvalJobHandler({ deps: { ...deps, logger }, options, registry, evals }),
  });
  worker.stopped.catch((err: unknown) => logger.error({ err }, "eval job worker stopped"));
  return {
    name: "evaluator",
    bindings: [evaluatorServiceBinding({ service: "evaluator", logger, metrics: deps.metrics }, evals, deps.store)],
    async stop() {
      await worker.stop().catch(() => undefined);
      registry.close();
    },
  };
}
