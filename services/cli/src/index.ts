// Library face of the CLI: the program, the embedded system and the demo (used by tests).
export { buildProgram, runCli } from "./program.js";
export { type CliIo, CliError, apiAddr, DEFAULT_ADDR } from "./cli-io.js";
export { defaultPython, type EmbeddedOptions, type EmbeddedSystem, REPO_ROOT, startEmbedded } from "./embedded/embedded-system.js";
export { type DemoOptions, type DemoResult, runDemo } from "./demo/run-demo.js";
export { type DemoRow, demoRows, demoTable } from "./demo/demo-results.js";
export { demoRecipeYaml } from "./demo/demo-recipe.js";
export { lineage, versionsTable } from "./adapters-format.js";
export { showRunProgress } from "./run-progress.js";
