// Test support: real servers on random loopback ports. Imported as "@mambalign/core/testing".
export * from "./nats-server.js";
export * from "./minio-server.js";
export * from "./mlflow-server.js";
export * from "./server-env.js";
export * from "./auth.js";
export * from "./service-test-env.js";
export * from "./unwritable-dir.js";
export * from "./test-data.js";
export { resolvedStage, resolvedTrainingArgs } from "./resolved-args.js";
export { processGone } from "./process-gone.js";
export { makeTestPki, type TestPki } from "./tls.js";
export { settledConsumer } from "./settled-consumer.js";
export { waitUntil } from "./wait-until.js";
