import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "../src/free-port.js";
import { S3ObjectStore } from "../src/store/s3-object-store.js";
import { REPO_ROOT } from "./test-data.js";

export interface MinioServer {
  endPoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** The server's data directory (removed by stop()). */
  dataDir: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

/** MINIO_BIN, else <repo>/.cache/bin/minio, else `minio` on PATH. */
export function findMinioBinary(): string {
  const fromEnv = process.env.MINIO_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`MINIO_BIN=${fromEnv} does not exist; run \`bash scripts/minio.sh install\``);
    return fromEnv;
  }
  const cached = path.join(REPO_ROOT, ".cache", "bin", "minio");
  if (existsSync(cached)) return cached;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, "minio"))) return path.join(dir, "minio");
  }
  throw new Error(
    `no minio binary: set MINIO_BIN, or run \`bash scripts/minio.sh install\` (installs ${cached}), or put minio on PATH`,
  );
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * Starts a real MinIO on 127.0.0.1 with a fresh data directory and random root
 * credentials, waits for /minio/health/ready, and creates a bucket. stop() kills it and
 * removes the data directory.
 */
export async function startMinioServer(opts: { bucket?: string } = {}): Promise<MinioServer> {
  const bin = findMinioBinary();
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-minio-"));
  const accessKey = `test${randomBytes(6).toString("hex")}`;
  const secretKey = randomBytes(18).toString("base64url");
  const bucket = opts.bucket ?? "mambalign-test";
  const [port, consolePort] = [await freePort(), await freePort()];
  const endPoint = `http://127.0.0.1:${port}`;

  const child = spawn(bin, ["server", dataDir, "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--quiet"], {
    env: {
      ...process.env,
      MINIO_ROOT_USER: accessKey,
      MINIO_ROOT_PASSWORD: secretKey,
      MINIO_BROWSER: "off",
      MINIO_UPDATE: "off",
      MINIO_CI_CD: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exitInfo: string | undefined;
  child.on("exit", (code, signal) => {
    exitInfo = `exited with ${signal ?? code}`;
  });
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  spawnError.catch(() => {});

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited(child);
      clearTimeout(timer);
    }
    await fsp.rm(dataDir, { recursive: true, force: true });
  };

  try {
    await Promise.race([waitReady(endPoint, () => exitInfo, () => output), spawnError]);
    await new S3ObjectStore({ endPoint, bucket, accessKey, secretKey }).ensureBucket();
  } catch (err) {
    await stop();
    throw err;
  }
  return { endPoint, accessKey, secretKey, bucket, dataDir, stop };
}

async function waitReady(endPoint: string, exitInfo: () => string | undefined, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let delay = 20;
  for (;;) {
    const dead = exitInfo();
    if (dead) throw new Error(`minio ${dead} before becoming ready:\n${output()}`);
    try {
      const res = await fetch(`${endPoint}/minio/health/ready`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`minio at ${endPoint} not ready after ${READY_TIMEOUT_MS} ms:\n${output()}`);
    // Polling interval, not a fixed wait: readiness is what ends the loop.
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}
