import { loadKubeProgramConfig } from "./kube-config.js";
import { startKubeProgram } from "./program.js";

// Entry point of the launcher/autoscaler image: MAMBALIGN_KUBE_PROGRAM picks which one runs.
const program = await startKubeProgram(loadKubeProgramConfig());
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    program.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
