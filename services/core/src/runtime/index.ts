// Launching the Python runtime (docs/architecture.md, "Runtime contract").
export * from "./runtime-process.js";
