// The NATS server of the embedded default: the installed binary, JetStream stored under the state
// directory (so runs, events and jobs survive a restart of `mambalign up`), loopback only.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createConnection } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { findNatsServerBinary } from "@mambalign/core/testing";

export interface NatsProcess {
  url: string;
  port: number;
  /** Stops the server (SIGTERM: it flushes JetStream) and waits for it to exit. */
  stop(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      ok(true);
    });
    sock.once("error", () => ok(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => child.once("exit", () => ok()));
}

/** Starts nats-server (binary: NATS_SERVER_BIN, <repo>/.cache/bin/nats-server, or PATH) and waits until it accepts clients. */
export async function startNatsProcess(opts: { port: number; storeDir: string; readyTimeoutMs?: number }): Promise<NatsProcess> {
  const bin = findNatsServerBinary();
  await mkdir(opts.storeDir, { recursive: true });
  const child = spawn(bin, ["-a", "127.0.0.1", "-p", String(opts.port), "-js", "-sd", opts.storeDir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (log = (log + chunk).slice(-4000)));
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited(child);
    })());
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  // The server opens its client port only once JetStream is up, so a connection means ready.
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`nats-server (${bin}) exited before accepting connections on port ${opts.port}: ${spawnError?.message ?? log.trim()}`);
    }
    if (await canConnect(opts.port)) return { url: `nats://127.0.0.1:${opts.port}`, port: opts.port, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nats-server did not accept connections on port ${opts.port}: ${log.trim()}`);
    }
    await sleep(delay);
  }
}
