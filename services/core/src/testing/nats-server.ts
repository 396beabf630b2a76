// Starts a real nats-server (JetStream on) for tests: random loopback port, throwaway store dir.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Temporary JetStream store directory, removed by stop(). */
  storeDir: string;
  /** Stops the server and removes its JetStream store. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartNatsServerOptions {
  /** How long to wait for the server to accept connections (default 15 s). */
  readyTimeoutMs?: number;
}

/** This file sits at services/core/{src,dist}/testing/, four levels below the repo root. */
const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../..");
const INSTALL_HINT = "install it with `bash scripts/nats.sh install`";

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** NATS_SERVER_BIN, else <repo>/.cache/bin/nats-server, else nats-server on PATH. */
export function findNatsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.NATS_SERVER_BIN;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(`NATS_SERVER_BIN=${fromEnv} is not an executable file; unset it or ${INSTALL_HINT}`);
    }
    return fromEnv;
  }
  const cached = join(repoRoot, ".cache", "bin", "nats-server");
  if (isExecutable(cached)) return cached;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, "nats-server"))) return join(dir, "nats-server");
  }
  throw new Error(`nats-server not found (NATS_SERVER_BIN, ${cached}, PATH); ${INSTALL_HINT}`);
}

/** Asks the OS for a free loopback port (a tiny race with other binders is possible; start retries). */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? ok(addr.port) : fail(new Error("no port"))));
    });
  });
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

async function startOnce(bin: string, readyTimeoutMs: number): Promise<NatsServerHandle> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "mambalign-nats-"));
  const child = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  // Keep the tail of the server log for error messages; reading also keeps the pipe from filling.
  let log = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    log = (log + chunk).slice(-4000);
  });
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited(child);
    }
    await rm(storeDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  // The server opens its client port only after JetStream is up, so an accepted connection means ready.
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`nats-server (${bin}) exited before accepting connections on port ${port}: ${spawnError?.message ?? log.trim()}`);
    }
    if (await canConnect(port)) return { url: `nats://127.0.0.1:${port}`, port, storeDir, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nats-server did not accept connections on port ${port} within ${readyTimeoutMs} ms: ${log.trim()}`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Starts nats-server with JetStream on a free loopback port and waits until it accepts connections. */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = findNatsServerBinary();
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  try {
    return await startOnce(bin, readyTimeoutMs);
  } catch (err) {
    // One retry covers losing the free port to another process between probe and bind.
    return startOnce(bin, readyTimeoutMs).catch(() => Promise.reject(err));
  }
}
