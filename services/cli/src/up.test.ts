// cli — `mambalign up` owns its state directory: a killed `up` leaves no nats-server behind, a
// second `up` on the same directory refuses while the first lives, and a dead one's leftovers are
// reclaimed. Real processes: the installed command, nats-server, the embedded services.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createLogger, findNatsServerBinary, freePort, natsServersOnStore } from "@mambalign/core";
import { processGone } from "@mambalign/core/testing";
import { startEmbedded } from "./embedded/embedded-system.js";

const BIN = fileURLToPath(new URL("../bin/mambalign.js", import.meta.url));

interface Up {
  proc: ChildProcess;
  /** stdout and stderr so far */
  output(): string;
  /** stdout alone */
  stdout(): string;
  /** Resolves with the exit code once `up` printed that it is up (0 = still running) or exited. */
  ready: Promise<number | null>;
}

function up(stateDir: string, ...extra: string[]): Up {
  const proc = spawn(process.execPath, [BIN, "up", "--state-dir", stateDir, "--port", "0", "--metrics-port", "0", "--dashboard-port", "0", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
    // The local token goes beside the state directory, never into the user's config directory.
    env: { ...process.env, LOG_LEVEL: "warn", XDG_CONFIG_HOME: path.join(path.dirname(stateDir), "config") },
  });
  let text = "";
  let stdout = "";
  proc.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  const ready = new Promise<number | null>((resolve) => {
    const onData = (c: Buffer) => {
      text += c.toString();
      // Text: its first line; -o json: the whole object printed (it closes on a line of its own).
      if (text.includes("mambalign is up") || /^\{\n[^]*\n\}$/m.test(text)) resolve(0);
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    proc.once("exit", (code) => resolve(code ?? 1));
  });
  return { proc, output: () => text, stdout: () => stdout, ready };
}

async function stopUp(u: Up): Promise<void> {
  if (u.proc.exitCode !== null || u.proc.signalCode !== null) return;
  const exited = once(u.proc, "exit");
  u.proc.kill("SIGTERM");
  await exited;
}

describe("mambalign up — one control plane per state directory", { skip: process.platform !== "linux" }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "mambalign-up-"));
  });
  after(async () => {
    // Whatever a failed test left running (an `up` whose lock is still there) must not outlive it.
    for (const state of ["killed", "shared", "race", "stale"]) {
      const lock = await readFile(path.join(dir, state, "up.lock"), "utf8").catch(() => "");
      const pid = lock ? (JSON.parse(lock) as { pid: number }).pid : 0;
      if (pid && pid !== process.pid) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  test("SIGKILL of `mambalign up` takes its nats-server down, and the next `up` on the directory starts", { timeout: 120_000 }, async () => {
    const state = path.join(dir, "killed");
    const first = up(state);
    assert.equal(await first.ready, 0, first.output());
    const [natsPid] = await natsServersOnStore(path.join(state, "nats"));
    assert.ok(natsPid, "a nats-server serves the store");
    // The command's own process (bin/mambalign.js runs the CLI in a child) is what the user kills.
    const { pid: upPid } = JSON.parse(await readFile(path.join(state, "up.lock"), "utf8")) as { pid: number };
    first.proc.kill("SIGKILL");
    assert.equal(await processGone(natsPid), true, "the nats-server stops when `up` is killed");
    assert.equal(await processGone(upPid), true, "the services stop when `up` is killed");
    const second = up(state);
    try {
      assert.equal(await second.ready, 0, second.output());
      assert.equal((await natsServersOnStore(path.join(state, "nats"))).length, 1);
    } finally {
      await stopUp(second);
    }
  });

  test("a second `up` on a directory in use refuses, naming the first; one nats-server serves the store", { timeout: 120_000 }, async () => {
    const state = path.join(dir, "shared");
    const first = up(state, "-o", "json");
    try {
      assert.equal(await first.ready, 0, first.output());
      const lock = JSON.parse(await readFile(path.join(state, "up.lock"), "utf8")) as { pid: number; addr: string };
      const printed = JSON.parse(first.stdout()) as { addr: string; pid: number };
      assert.deepEqual([printed.addr, printed.pid], [lock.addr, lock.pid], "-o json prints the address and pid");
      const second = up(state);
      assert.equal(await second.ready, 1, second.output());
      assert.match(second.output(), new RegExp(`state directory .* is in use by mambalign pid ${lock.pid} \\(API at ${lock.addr}\\)`));
      assert.equal((await natsServersOnStore(path.join(state, "nats"))).length, 1);
    } finally {
      await stopUp(first);
    }
  });

  test("two `up`s started at once on a fresh directory: one runs, the other refuses; one nats-server", { timeout: 120_000 }, async () => {
    const state = path.join(dir, "race");
    const ups = [up(state), up(state)];
    try {
      const codes = await Promise.all(ups.map((u) => u.ready));
      assert.deepEqual([...codes].sort(), [0, 1], ups.map((u) => u.output()).join("\n---\n"));
      assert.match(ups[codes.indexOf(1)]!.output(), /state directory .* is in use by mambalign pid \d+/);
      assert.equal((await natsServersOnStore(path.join(state, "nats"))).length, 1);
    } finally {
      await Promise.all(ups.map(stopUp));
    }
  });

  test("the lock and nats-server a dead `up` left behind are reclaimed by the next start", { timeout: 120_000 }, async () => {
    const state = path.join(dir, "stale");
    const storeDir = path.join(state, "nats");
    await mkdir(storeDir, { recursive: true });
    // What a crash whose watchdog also died leaves: a lock naming a dead pid and a server on the store.
    const dead = spawn(process.execPath, ["-e", ""]);
    await once(dead, "exit");
    const leftover = spawn(findNatsServerBinary(), ["-a", "127.0.0.1", "-p", String(await freePort()), "-js", "-sd", storeDir], { stdio: "ignore", detached: true });
    try {
      for (let i = 0; (await natsServersOnStore(storeDir)).length === 0; i++) {
        assert.ok(i < 200, "the leftover server starts");
        await new Promise((r) => setTimeout(r, 25));
      }
      await writeFile(path.join(state, "up.lock"), JSON.stringify({ pid: dead.pid, startedAt: new Date().toISOString() }));
      const system = await startEmbedded({ stateDir: state, grpcPort: 0, metricsPort: 0, host: "127.0.0.1", logger: createLogger("test", "silent"), env: { ...process.env, XDG_CONFIG_HOME: path.join(dir, "config") } });
      try {
        assert.equal(await processGone(leftover.pid!), true, "the leftover server was stopped");
        const servers = await natsServersOnStore(storeDir);
        assert.equal(servers.length, 1);
        assert.notEqual(servers[0], leftover.pid);
      } finally {
        await system.stop();
      }
    } finally {
      leftover.kill("SIGKILL");
    }
  });
  test("a lock whose pid now belongs to a younger, unrelated process (pids are reused) does not block the directory", { timeout: 120_000 }, async () => {
    const state = path.join(dir, "reused");
    await mkdir(state, { recursive: true });
    const unrelated = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    try {
      const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
      await writeFile(path.join(state, "up.lock"), JSON.stringify({ pid: unrelated.pid, startedAt: hourAgo }));
      const system = await startEmbedded({ stateDir: state, grpcPort: 0, metricsPort: 0, host: "127.0.0.1", logger: createLogger("test", "silent"), env: { ...process.env, XDG_CONFIG_HOME: path.join(dir, "config") } });
      await system.stop();
      assert.equal(unrelated.exitCode, null, "the unrelated process was left alone");
    } finally {
      unrelated.kill("SIGKILL");
    }
  });
});
