// The trainer process: one GPU worker; exits after MAMBALIGN_TRAINER_MAX_JOBS jobs (Kubernetes job mode) or on SIGTERM.
import { connectDeps, loadConfig, serveUntilSignal } from "@mambalign/core";
import { startTrainerService } from "./index.js";

const config = loadConfig("trainer");
const deps = await connectDeps(config);
const trainer = await startTrainerService(deps);
const server = await serveUntilSignal(deps, [trainer]);
try {
  await trainer.done;
  await server.shutdown();
  process.exit(0);
} catch (err) {
  deps.logger.fatal({ err }, "trainer stopped on a fatal error");
  await server.shutdown().catch(() => undefined);
  process.exit(1);
}
