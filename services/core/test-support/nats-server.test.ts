import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort } from "../src/free-port.js";
import { natsServersOnStore, startNatsProcess } from "../src/nats-server-process.js";
import { findNatsServerBinary, startNatsServer } from "./nats-server.js";
import { processGone } from "./process-gone.js";

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

test("nats-server — restart() serves the same port and JetStream store", async () => {
  const srv = await startNatsServer();
  try {
    const before = await connect({ servers: srv.url });
    await (await jetstreamManager(before)).streams.add({ name: "KEPT", subjects: ["kept.>"] });
    await before.close();
    await srv.restart();
    const after = await connect({ servers: srv.url });
    assert.equal((await (await jetstreamManager(after)).streams.info("KEPT")).config.name, "KEPT", "the stream survived the restart");
    await after.close();
  } finally {
    await srv.stop();
  }
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

test("nats-server — dies with the process that started it, even after SIGKILL", { skip: process.platform !== "linux" }, async () => {
  const store = await mkdtemp(join(tmpdir(), "mambalign-nats-orphan-"));
  const module = pathToFileURL(fileURLToPath(new URL("../src/nats-server-process.ts", import.meta.url))).href;
  const script = `const { startNatsProcess } = await import(${JSON.stringify(module)}); const n = await startNatsProcess({ port: ${await freePort()}, storeDir: ${JSON.stringify(store)} }); console.log(n.pid); setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, [...process.execArgv, "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const [line] = (await once(parent.stdout!.setEncoding("utf8"), "data")) as [string];
    const natsPid = Number.parseInt(line, 10);
    assert.deepEqual(await natsServersOnStore(store), [natsPid]);
    parent.kill("SIGKILL");
    assert.equal(await processGone(natsPid), true, "the nats-server exits when its parent is killed");
  } finally {
    parent.kill("SIGKILL");
    await rm(store, { recursive: true, force: true });
  }
});

test("nats-server — a store directory served by a running server is refused, naming its pid", async () => {
  const store = await mkdtemp(join(tmpdir(), "mambalign-nats-one-"));
  const first = await startNatsProcess({ port: await freePort(), storeDir: store });
  try {
    if (process.platform === "linux") {
      await assert.rejects(startNatsProcess({ port: await freePort(), storeDir: store }), new RegExp(`pid ${first.pid}.*already serves`));
    }
  } finally {
    await first.stop();
    await rm(store, { recursive: true, force: true });
  }
});
