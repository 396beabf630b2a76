// Runs the registry service on its own (one pod); `mambalign up` uses startRegistryService instead.
import { connectDeps, loadConfig, serveUntilSignal } from "@mambalign/core";
import { startRegistryService } from "./index.js";

const config = loadConfig("registry");
const deps = await connectDeps(config);
await serveUntilSignal(deps, [await startRegistryService(deps)]);
