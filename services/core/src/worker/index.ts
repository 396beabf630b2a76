// The stage-job lifecycle shared by the workers (trainer, evaluator).
export * from "./stage-events.js";
export * from "./stage-worker.js";
export { isRunEndEvent, type RunEndWatch, watchRunEnd } from "./run-end.js";
