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
  /** A user allowed `bucket` and nothing else (what services get; never the root user). */
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** MinIO's root user: only for tests that administer the server (other buckets). */
  root: { accessKey: string; secretKey: string };
  /** The server's data directory (removed by stop()). */
  dataDir: string;
  /** Stops the server process (SIGTERM) and keeps its data: an outage. */
  halt(): Promise<void>;
  /** Starts the server again on the same address, credentials and data; resolves once it is ready. */
  restart(): Promise<void>;
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

/** MINIO_ADMIN_BIN, else <repo>/.cache/bin/minio-admin, else `minio-admin` on PATH (scripts/minio-admin). */
export function findMinioAdminBinary(): string {
  const fromEnv = process.env.MINIO_ADMIN_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`MINIO_ADMIN_BIN=${fromEnv} does not exist; run \`bash scripts/minio.sh install\``);
    return fromEnv;
  }
  const cached = path.join(REPO_ROOT, ".cache", "bin", "minio-admin");
  if (existsSync(cached)) return cached;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, "minio-admin"))) return path.join(dir, "minio-admin");
  }
  throw new Error(`no minio-admin binary: set MINIO_ADMIN_BIN, or run \`bash scripts/minio.sh install\` (installs ${cached})`);
}

/** Makes a user whose policy allows `bucket` only (scripts/minio-admin, MinIO's admin API); its credentials. */
async function createBucketUser(endPoint: string, bucket: string, root: { accessKey: string; secretKey: string }) {
  const user = { accessKey: `svc${randomBytes(6).toString("hex")}`, secretKey: randomBytes(18).toString("base64url") };
  const host = new URL(endPoint).host;
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    // Secrets travel in the environment, never on the command line.
    const child = spawn(findMinioAdminBinary(), ["bucket-user", "-endpoint", host, "-bucket", bucket, "-user", user.accessKey], {
      env: { ...process.env, MINIO_ROOT_USER: root.accessKey, MINIO_ROOT_PASSWORD: root.secretKey, SCOPED_SECRET_KEY: user.secretKey },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    child.once("error", reject);
    child.once("exit", (c) => resolve({ code: c, output: out }));
  });
  if (code !== 0) throw new Error(`minio-admin bucket-user failed (${code}): ${output.trim()}`);
  return user;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * Starts a real MinIO on 127.0.0.1 with a fresh data directory and random root
 * credentials, waits for /minio/health/ready, creates a bucket and a user allowed that bucket
 * only (the credentials it returns). stop() kills it and removes the data directory.
 */
export async function startMinioServer(opts: { bucket?: string } = {}): Promise<MinioServer> {
  const bin = findMinioBinary();
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-minio-"));
  const accessKey = `test${randomBytes(6).toString("hex")}`;
  const secretKey = randomBytes(18).toString("base64url");
  const bucket = opts.bucket ?? "mambalign-test";
  const [port, consolePort] = [await freePort(), await freePort()];
  const endPoint = `http://127.0.0.1:${port}`;

  let child: ChildProcess;
  let output = "";
  let exitInfo: string | undefined;
  let spawnError: Promise<never>;
  const launch = () => {
    output = "";
    exitInfo = undefined;
    const c = spawn(bin, ["server", dataDir, "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--quiet"], {
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
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-4000);
    };
    c.stdout?.on("data", keep);
    c.stderr?.on("data", keep);
    c.on("exit", (code, signal) => {
      exitInfo = `exited with ${signal ?? code}`;
    });
    spawnError = new Promise<never>((_, reject) => c.once("error", reject));
    spawnError.catch(() => {});
    child = c;
  };
  const ready = () => Promise.race([waitReady(endPoint, () => exitInfo, () => output), spawnError]);

  const halt = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited(child);
      clearTimeout(timer);
    }
  };
  const stop = async () => {
    await halt();
    await fsp.rm(dataDir, { recursive: true, force: true });
  };
  const restart = async () => {
    await halt();
    launch();
    await ready();
  };

  const root = { accessKey, secretKey };
  let scoped: { accessKey: string; secretKey: string };
  launch();
  try {
    await ready();
    await new S3ObjectStore({ endPoint, bucket, ...root }).ensureBucket();
    scoped = await createBucketUser(endPoint, bucket, root);
  } catch (err) {
    await stop();
    throw err;
  }
  return { endPoint, ...scoped, bucket, root, dataDir, halt, restart, stop };
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
