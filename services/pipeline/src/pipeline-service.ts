// PipelineService over gRPC, plus the durable "pipeline" consumer that advances runs on events.
import {
  ApiError,
  checkRecipe,
  type HandlerContext,
  PipelineServiceService,
  serverStream,
  type ServiceDeps,
  type StartedService,
  unary,
  type CancelRunRequest,
  type CancelRunResponse,
  type CheckRecipeRequest,
  type CheckRecipeResponse,
  type GetRunRequest,
  type GetRunResponse,
  type ListRunsRequest,
  type ListRunsResponse,
  type StartRunRequest,
  type StartRunResponse,
  type WatchRunRequest,
  type WatchRunResponse,
  principalOf,
} from "@mambalign/core";
import { Pipeline } from "./pipeline.js";
import { RunHistory } from "./run-history.js";
import { watchRun } from "./run-watch.js";

export interface PipelineServiceOptions {
  /** Durable consumer name over events.> (default "pipeline"). */
  durable?: string;
  now?: () => Date;
}

export async function startPipelineService(deps: ServiceDeps, opts: PipelineServiceOptions = {}): Promise<StartedService & { pipeline: Pipeline }> {
  const logger = deps.logger.child({ component: "pipeline" });
  const pipeline = await Pipeline.open({
    bus: deps.bus,
    store: deps.store,
    logger,
    metrics: deps.metrics,
    datasetsAddr: deps.config.addrs.datasets,
    peerSecurity: deps.config.security.client,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const durable = opts.durable ?? "pipeline";
  const consumer = deps.bus.consumeEvents({
    durable,
    handler: (_seq, ev) => pipeline.handleEvent(ev),
  });
  // A second durable over the same events writes each run's history to the store, acked once written.
  const history = new RunHistory(deps.store);
  const historyConsumer = deps.bus.consumeEvents({
    durable: `${durable}-history`,
    handler: async (seq, ev) => {
      if (await pipeline.knowsRun(ev.runId)) await history.record(seq, ev);
    },
  });
  await pipeline.resumePending();

  const ctx: HandlerContext = { service: "pipeline", logger, metrics: deps.metrics };
  const implementation = {
    startRun: unary<StartRunRequest, StartRunResponse>(ctx, "StartRun", async (req, call) => ({
      run: await pipeline.startRun(req.recipeYaml, req.requestId, principalOf(call).name),
    })),
    getRun: unary<GetRunRequest, GetRunResponse>(ctx, "GetRun", async (req) => ({ run: await pipeline.getRun(req.id) })),
    listRuns: unary<ListRunsRequest, ListRunsResponse>(ctx, "ListRuns", async () => ({ runs: await pipeline.runs.list() })),
    cancelRun: unary<CancelRunRequest, CancelRunResponse>(ctx, "CancelRun", async (req) => ({ run: await pipeline.cancel(req.id) })),
    watchRun: serverStream<WatchRunRequest, WatchRunResponse>(ctx, "WatchRun", async function* (req, signal) {
      await pipeline.getRun(req.id);
      const fromSeq = req.fromSeq > 0n ? Number(req.fromSeq) : undefined;
      if (fromSeq !== undefined && !Number.isSafeInteger(fromSeq)) throw ApiError.invalidArgument("from_seq", "is too large");
      yield* watchRun(deps.bus, pipeline.runs, history, req.id, fromSeq, signal);
    }),
    checkRecipe: unary<CheckRecipeRequest, CheckRecipeResponse>(ctx, "CheckRecipe", async (req) => {
      const { recipe, issues } = checkRecipe(req.recipeYaml);
      return { recipe, issues };
    }),
  };
  return {
    name: "pipeline",
    pipeline,
    bindings: [{ name: "mambalign.v1.PipelineService", definition: PipelineServiceService, implementation }],
    async stop() {
      await consumer.stop();
      await historyConsumer.stop();
      await pipeline.drain();
    },
  };
}
