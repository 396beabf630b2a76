// Runs the datasets service on its own (one pod); `mambalign up` uses startDatasetsService instead.
import { connectDeps, loadConfig, serveUntilSignal } from "@mambalign/core";
import { startDatasetsService } from "./index.js";

const config = loadConfig("datasets");
const deps = await connectDeps(config);
await serveUntilSignal(deps, [await startDatasetsService(deps)]);
