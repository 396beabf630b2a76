import { connectDeps, loadConfig, serveUntilSignal } from "@mambalign/core";
import { startPipelineService } from "./index.js";

const config = loadConfig("pipeline");
const deps = await connectDeps(config);
await serveUntilSignal(deps, [await startPipelineService(deps)]);
