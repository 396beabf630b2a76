// A nats-server child process with JetStream on loopback: the embedded default of `mambalign up` and the tests' server.
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { delimiter, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { type BusCredential, natsAuthorizationConfig } from "./bus/permissions.js";

export interface NatsProcess {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Process id of the nats-server itself (its watchdog wrapper is our child). */
  pid: number;
  /** Stops the server (SIGTERM: it flushes JetStream) and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartNatsProcessOptions {
  port: number;
  /** JetStream store directory (created if missing). */
  storeDir: string;
  /** How long to wait for the server to accept connections (default 20 s). */
  readyTimeoutMs?: number;
  /**
   * Only these users may connect, each with its service's subject permissions (bus/permissions.ts);
   * their passwords go into `configFile` (written with mode 0600). None: anonymous clients, any subject.
   */
  auth?: { users: readonly BusCredential[]; configFile: string; unrestricted?: { user: string; password: string } };
  /** A configuration file used as it is (the chart's, in its test); the options above override its listen address and store. */
  configFile?: string;
}

/** This file sits at services/core/{src,dist}/, three levels below the repo root. */
const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
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

/**
 * The server runs under a small sh wrapper that keeps the read end of a pipe from this process
 * (its stdin): when this process dies, even by SIGKILL, the pipe reaches EOF and the wrapper stops
 * the server, so a crashed `mambalign up` never leaves a nats-server behind. SIGTERM to the wrapper
 * is passed on, and the wrapper exits with the server's status once the server has exited. The
 * server's pid is the wrapper's first line on stdout.
 */
const WATCHDOG = [
  "exec 3<&0 </dev/null",
  '"$@" & pid=$!',
  'echo "$pid"',
  '( read -r _ <&3; kill -TERM "$pid" 2>/dev/null ) & watch=$!',
  "exec 3<&-",
  "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT HUP",
  'while :; do wait "$pid"; st=$?; kill -0 "$pid" 2>/dev/null || break; done',
  'kill "$watch" 2>/dev/null',
  'exit "$st"',
].join("\n");

/**
 * Pids of nats-server processes serving `storeDir` (Linux /proc; [] where there is none). One store
 * must have one server: two would each rewrite the other's JetStream files.
 */
export async function natsServersOnStore(storeDir: string): Promise<number[]> {
  const dir = resolve(storeDir);
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const args = await readFile(`/proc/${e}/cmdline`, "utf8").then((t) => t.split("\0"), () => [] as string[]);
    const sd = args.indexOf("-sd");
    if (sd > 0 && /(^|\/)nats-server$/.test(args[0] ?? "") && args[sd + 1] !== undefined && resolve(args[sd + 1]!) === dir) found.push(Number(e));
  }
  return found;
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

/**
 * Starts nats-server on the given loopback port and waits until it accepts clients; fails with the
 * server's log. Refuses a store directory another nats-server already serves.
 */
export async function startNatsProcess(opts: StartNatsProcessOptions): Promise<NatsProcess> {
  const bin = findNatsServerBinary();
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  const storeDir = resolve(opts.storeDir);
  await mkdir(storeDir, { recursive: true });
  const running = await natsServersOnStore(storeDir);
  if (running.length > 0) {
    throw new Error(`nats-server (pid ${running.join(", ")}) already serves the JetStream store ${storeDir}; stop it first (one store, one server)`);
  }
  const args = ["-a", "127.0.0.1", "-p", String(opts.port), "-js", "-sd", storeDir];
  if (opts.auth) {
    await writeFile(opts.auth.configFile, natsAuthorizationConfig(opts.auth.users, opts.auth.unrestricted), { mode: 0o600 });
    await chmod(opts.auth.configFile, 0o600); // an older file keeps its mode through writeFile
    args.push("-c", opts.auth.configFile);
  } else if (opts.configFile) {
    args.push("-c", opts.configFile);
  }
  const child = spawn("/bin/sh", ["-c", WATCHDOG, "nats-server-watchdog", bin, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  // We never write to the pipe; only its closing matters.
  child.stdin?.on("error", () => undefined);
  let pid = 0;
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (pid ||= Number.parseInt(chunk, 10) || 0));
  // Keep the tail of the server log for error messages; reading also keeps the pipe from filling.
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
  const deadline = Date.now() + readyTimeoutMs;
  // The server opens its client port only once JetStream is up, so a connection means ready.
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`nats-server (${bin}) exited before accepting connections on port ${opts.port}: ${spawnError?.message ?? log.trim()}`);
    }
    if (pid && (await canConnect(opts.port))) return { url: `nats://127.0.0.1:${opts.port}`, port: opts.port, pid, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nats-server did not accept connections on port ${opts.port} within ${readyTimeoutMs} ms: ${log.trim()}`);
    }
    await sleep(delay);
  }
}
