import { connectDeps, loadConfig, serveUntilSignal } from "@mambalign/core";
import { loadEvaluatorOptions, startEvaluatorService } from "./index.js";

const config = loadConfig("evaluator");
const options = loadEvaluatorOptions();
const deps = await connectDeps(config);
await serveUntilSignal(deps, [await startEvaluatorService(deps, options)]);
