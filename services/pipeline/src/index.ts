// Public face of the pipeline service: the gRPC service (for `mambalign up` and main.ts) and its pure parts.
export { startPipelineService, type PipelineServiceOptions } from "./pipeline-service.js";
export { Pipeline } from "./pipeline.js";
export { acceptRecipe } from "./recipe-guard.js";
export { isRunId, jobId, newRunId, requestKey, runObjectKeys, validateRequestId, validateRunId } from "./run-ids.js";
export {
  applyEvent,
  beginRun,
  cancelRun,
  failRun,
  isRunEndEvent,
  isTerminal,
  newRun,
  outputName,
  planJob,
  type RunDatasets,
  runLevelEvent,
  subjectOf,
} from "./run-machine.js";
export { RUN_REQUESTS_BUCKET, RUNS_BUCKET, RunStore } from "./run-store.js";
