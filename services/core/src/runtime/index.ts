// Launching the Python runtime (docs/architecture.md, "Runtime contract").
export * from "./runtime-process.js";
export * from "./runtime-exit.js";
export * from "./run-runtime.js";
