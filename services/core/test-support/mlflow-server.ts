import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "../src/free-port.js";
import { REPO_ROOT } from "./test-data.js";

export interface MlflowServer {
  /** http://127.0.0.1:<port> */
  uri: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 120_000;

/** MAMBALIGN_MLFLOW_SERVER, else <repo>/.venv-mlflow/bin/mlflow (scripts/setup.sh installs it there). */
export function findMlflowServer(): string {
  const bin = process.env.MAMBALIGN_MLFLOW_SERVER || path.join(REPO_ROOT, ".venv-mlflow", "bin", "mlflow");
  if (!existsSync(bin)) throw new Error(`no MLflow server at ${bin}: run \`bash scripts/setup.sh\` (or set MAMBALIGN_MLFLOW_SERVER)`);
  return bin;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * Starts a real MLflow tracking server on 127.0.0.1 (a free port, sqlite and artifacts in a fresh temp dir)
 * and waits for /health. stop() ends it and removes the directory.
 */
export async function startMlflowServer(): Promise<MlflowServer> {
  const bin = findMlflowServer();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-mlflow-"));
  const port = await freePort();
  const uri = `http://127.0.0.1:${port}`;
  const args = ["server", "--host", "127.0.0.1", "--port", String(port), "--workers", "1",
    "--backend-store-uri", `sqlite:///${path.join(dir, "mlflow.db")}`, "--default-artifact-root", path.join(dir, "artifacts")];
  // detached: the server forks uvicorn workers; stop() ends the whole group.
  const child = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  spawnError.catch(() => {});
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      process.kill(-child.pid, "SIGTERM");
      const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 10_000);
      await exited(child);
      clearTimeout(timer);
    }
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([waitReady(uri, child, () => output), spawnError]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { uri, stop };
}

async function waitReady(uri: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let delay = 50;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mlflow server exited before becoming ready:\n${output()}`);
    try {
      const res = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`mlflow server at ${uri} not ready after ${READY_TIMEOUT_MS} ms:\n${output()}`);
    // Polling interval, not a fixed wait: readiness is what ends the loop.
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}
