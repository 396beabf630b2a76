// Starts a real nats-server (JetStream on) for tests: random loopback port, throwaway store dir.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../src/free-port.js";
import { findNatsServerBinary, startNatsProcess } from "../src/nats-server-process.js";

// Tests have long imported the binary lookup from here.
export { findNatsServerBinary };

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

async function startOnce(readyTimeoutMs: number): Promise<NatsServerHandle> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "mambalign-nats-"));
  try {
    const nats = await startNatsProcess({ port, storeDir, readyTimeoutMs });
    const stop = async (): Promise<void> => {
      await nats.stop();
      await rm(storeDir, { recursive: true, force: true });
    };
    return { url: nats.url, port, storeDir, stop };
  } catch (err) {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
}

/** Starts nats-server with JetStream on a free loopback port and waits until it accepts connections. */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  findNatsServerBinary(); // a missing binary is not worth a retry
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  try {
    return await startOnce(readyTimeoutMs);
  } catch (err) {
    // One retry covers losing the free port to another process between probe and bind.
    return startOnce(readyTimeoutMs).catch(() => Promise.reject(err));
  }
}
