// Public face of the pipeline service: the gRPC service (for `mambalign up` and main.ts) and its pure parts.
export { startPipelineService } from "./pipeline-service.js";
export { Pipeline } from "./pipeline.js";
export { jobId, validateRunId } from "./run-ids.js";
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
export { RUNS_BUCKET } from "./run-store.js";
