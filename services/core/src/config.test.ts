import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, loadConfig } from "./config.js";

test("config — defaults resolve to a complete object for the embedded fs store", () => {
  const cfg = loadConfig("pipeline", { MAMBALIGN_STORE: "fs" });
  assert.equal(cfg.store.kind, "fs");
  assert.equal(cfg.grpcPort, 50051);
  assert.equal(cfg.natsUrl, "nats://127.0.0.1:4222");
  assert.ok(cfg.workDir.startsWith("/"));
});

test("config — bad values and missing S3 credentials name the variable", () => {
  assert.throws(() => loadConfig("x", { MAMBALIGN_STORE: "fs", MAMBALIGN_GRPC_PORT: "70000" }), (e: ConfigError) => {
    assert.equal(e.variable, "MAMBALIGN_GRPC_PORT");
    return true;
  });
  assert.throws(() => loadConfig("x", { MAMBALIGN_STORE: "s3", MAMBALIGN_S3_ENDPOINT: "http://127.0.0.1:9000" }), (e: ConfigError) => {
    assert.equal(e.variable, "AWS_ACCESS_KEY_ID");
    return true;
  });
});

test("config — MAMBALIGN_S3_AUTH=workload-identity needs no static keys; an unknown mode names the variable", () => {
  const cfg = loadConfig("x", { MAMBALIGN_STORE: "s3", MAMBALIGN_S3_ENDPOINT: "https://s3.eu-west-1.amazonaws.com", MAMBALIGN_S3_AUTH: "workload-identity" });
  assert.equal(cfg.store.s3.auth, "workload-identity");
  assert.equal(cfg.store.s3.accessKey, "");
  assert.equal(loadConfig("x", { MAMBALIGN_STORE: "fs" }).store.s3.auth, "keys");
  assert.throws(() => loadConfig("x", { MAMBALIGN_STORE: "s3", MAMBALIGN_S3_ENDPOINT: "http://h:9000", MAMBALIGN_S3_AUTH: "irsa" }), (e: ConfigError) => {
    assert.equal(e.variable, "MAMBALIGN_S3_AUTH");
    return true;
  });
});

test("config — a service's NATS user needs its password (and the other way round); neither is anonymous", () => {
  const cfg = loadConfig("trainer", { MAMBALIGN_STORE: "fs", MAMBALIGN_NATS_USER: "trainer", MAMBALIGN_NATS_PASSWORD: "pw" });
  assert.deepEqual(cfg.natsCredentials, { user: "trainer", password: "pw" });
  assert.equal(loadConfig("x", { MAMBALIGN_STORE: "fs" }).natsCredentials, undefined);
  for (const [env, missing] of [
    [{ MAMBALIGN_NATS_USER: "trainer" }, "MAMBALIGN_NATS_PASSWORD"],
    [{ MAMBALIGN_NATS_PASSWORD: "pw" }, "MAMBALIGN_NATS_USER"],
  ] as const) {
    assert.throws(() => loadConfig("x", { MAMBALIGN_STORE: "fs", ...env }), (e: ConfigError) => {
      assert.equal(e.variable, missing);
      assert.doesNotMatch(e.message, /pw/, "the password is not echoed");
      return true;
    });
  }
});

test("config — MAMBALIGN_GRPC_MAX_MESSAGE_BYTES sets the servers' request limit (default 4 MiB); a bad value names the variable", () => {
  assert.equal(loadConfig("x", { MAMBALIGN_STORE: "fs" }).grpcMaxMessageBytes, 4 * 1024 * 1024);
  assert.equal(loadConfig("x", { MAMBALIGN_STORE: "fs", MAMBALIGN_GRPC_MAX_MESSAGE_BYTES: "65536" }).grpcMaxMessageBytes, 65536);
  assert.throws(() => loadConfig("x", { MAMBALIGN_STORE: "fs", MAMBALIGN_GRPC_MAX_MESSAGE_BYTES: "12" }), (e: ConfigError) => e.variable === "MAMBALIGN_GRPC_MAX_MESSAGE_BYTES");
});
