import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { findNatsServerBinary, startNatsServer } from "./nats-server.js";

function portOpen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => (s.destroy(), ok(true)));
    s.once("error", () => ok(false));
  });
}

test("nats-server — starts with JetStream on a loopback port and cleans up on stop", async () => {
  const srv = await startNatsServer();
  assert.match(srv.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(srv.storeDir.startsWith(tmpdir()) && existsSync(srv.storeDir), "store dir under the OS temp dir");

  const nc = await connect({ servers: srv.url });
  const info = await (await jetstreamManager(nc)).getAccountInfo();
  assert.equal(typeof info.streams, "number", "JetStream answers");
  await nc.close();

  await srv.stop();
  assert.equal(await portOpen(srv.port), false, "port released");
  assert.equal(existsSync(srv.storeDir), false, "store dir removed");
  await srv.stop(); // idempotent
});

test("nats-server — two servers get different ports", async () => {
  const [a, b] = await Promise.all([startNatsServer(), startNatsServer()]);
  try {
    assert.notEqual(a.port, b.port);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test("nats-server — a missing binary names the install command", () => {
  assert.throws(
    () => findNatsServerBinary({ NATS_SERVER_BIN: "/nonexistent/nats-server" }),
    (err: Error) => err.message.includes("NATS_SERVER_BIN") && err.message.includes("bash scripts/nats.sh install"),
  );
});
