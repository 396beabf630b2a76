// TrainerService: this worker's status and a run's complete checkpoints.
import {
  ApiError,
  type Checkpoint,
  type GetWorkerRequest,
  type GetWorkerResponse,
  type HandlerContext,
  InvalidManifestError,
  type ListCheckpointsRequest,
  type ListCheckpointsResponse,
  manifestKey,
  MANIFEST_NAME,
  type ObjectStore,
  sha256Hex,
  Stage,
  type TrainerServiceServer,
  unary,
  validateRunId,
  readManifest,
} from "@mambalign/core";
import { checkpointParent, stageSlug } from "./checkpoint-keys.js";
import type { WorkerState } from "./worker-status.js";

/** Complete checkpoints (manifest written) under checkpoints/<run>/<stage>/, oldest step first. */
export async function listCompleteCheckpoints(store: ObjectStore, runId: string, stage: Stage): Promise<Checkpoint[]> {
  const parent = checkpointParent(runId, stage);
  const pattern = new RegExp(`^${parent.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/(\\d+)/${MANIFEST_NAME.replace(".", "\\.")}$`);
  const out: Checkpoint[] = [];
  for await (const o of store.list(`${parent}/`)) {
    const m = pattern.exec(o.key);
    if (!m?.[1]) continue;
    const prefix = `${parent}/${m[1]}`;
    try {
      if (!(await readManifest(store, prefix))) continue;
    } catch (err) {
      if (err instanceof InvalidManifestError) continue;
      throw err;
    }
    const bytes = await store.get(manifestKey(prefix));
    out.push({ step: Number(m[1]), uri: store.uri(prefix), manifestSha256: sha256Hex(bytes) });
  }
  return out.sort((a, b) => a.step - b.step);
}

export function trainerServiceImpl(ctx: HandlerContext, store: ObjectStore, state: WorkerState): TrainerServiceServer {
  return {
    getWorker: unary<GetWorkerRequest, GetWorkerResponse>(ctx, "GetWorker", async () => ({ worker: state.status })),
    listCheckpoints: unary<ListCheckpointsRequest, ListCheckpointsResponse>(ctx, "ListCheckpoints", async (req) => {
      try {
        validateRunId(req.runId, "run_id");
      } catch (err) {
        throw ApiError.invalidArgument("run_id", (err as Error).message);
      }
      if (!stageSlug(req.stage)) {
        throw ApiError.invalidArgument("stage", `${Stage[req.stage] ?? req.stage} has no checkpoints; use STAGE_SFT, STAGE_MERGE or STAGE_DPO`);
      }
      return { checkpoints: await listCompleteCheckpoints(store, req.runId, req.stage) };
    }),
  };
}
