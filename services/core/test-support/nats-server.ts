// Starts a real nats-server (JetStream on) for tests: random loopback port, throwaway store dir.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../src/free-port.js";
import { type BusCredential, type BusUser, generateBusCredentials } from "../src/bus/permissions.js";
import { findNatsServerBinary, startNatsProcess } from "../src/nats-server-process.js";

// Tests have long imported the binary lookup from here.
export { findNatsServerBinary };

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Temporary JetStream store directory, removed by stop(). */
  storeDir: string;
  /** With `auth: true`: each service's user (the only ones the server lets in). */
  credentials?: Record<BusUser, BusCredential>;
  /** Stops the server process and starts it again on the same port and store (clients reconnect). */
  restart(): Promise<void>;
  /** Stops the server and removes its JetStream store. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartNatsServerOptions {
  /** How long to wait for the server to accept connections (default 15 s). */
  readyTimeoutMs?: number;
  /** Per-service users with their subject permissions, as the chart and `mambalign up` run it; no anonymous clients. */
  auth?: boolean;
}

async function startOnce(readyTimeoutMs: number, auth: boolean): Promise<NatsServerHandle> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "mambalign-nats-"));
  const credentials = auth ? generateBusCredentials() : undefined;
  try {
    const start = () =>
      startNatsProcess({
        port,
        storeDir,
        readyTimeoutMs,
        ...(credentials ? { auth: { users: Object.values(credentials), configFile: join(storeDir, "auth.conf") } } : {}),
      });
    let nats = await start();
    const stop = async (): Promise<void> => {
      await nats.stop();
      await rm(storeDir, { recursive: true, force: true });
    };
    const restart = async (): Promise<void> => {
      await nats.stop();
      nats = await start();
    };
    return { url: nats.url, port, storeDir, ...(credentials ? { credentials } : {}), restart, stop };
  } catch (err) {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
}

/** Starts nats-server with JetStream on a free loopback port and waits until it accepts connections. */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  findNatsServerBinary(); // a missing binary is not worth a retry
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  const auth = opts.auth ?? false;
  try {
    return await startOnce(readyTimeoutMs, auth);
  } catch (err) {
    // One retry covers losing the free port to another process between probe and bind.
    return startOnce(readyTimeoutMs, auth).catch(() => Promise.reject(err));
  }
}
