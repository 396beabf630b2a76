// Public face of @mambalign/core: generated contracts plus the shared runtime pieces.
export * from "./gen/index.js";
export * from "./config.js";
export { parseEnv } from "./parse-env.js";
export * from "./errors.js";
export * from "./logging.js";
export * from "./metrics.js";
export * from "./auth/index.js";
export * from "./grpc/index.js";
export * from "./bus/index.js";
export * from "./store/index.js";
export * from "./recipe/index.js";
export * from "./service-deps.js";
export * from "./runtime/index.js";
export * from "./worker/index.js";
export * from "./free-port.js";
export * from "./nats-server-process.js";
export { REDACTED, redactUrlCredentials } from "./redact.js";
export { LocalRoots } from "./local-roots.js";
