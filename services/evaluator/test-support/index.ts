// Test support of the evaluator, imported as "@mambalign/evaluator/testing" (development condition only).
export * from "./local-judge-server.js";
