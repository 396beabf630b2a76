// One `mambalign up` (or demo) per state directory: `<state>/up.lock` holds the owner's pid and API
// address. A live owner makes the next start refuse, naming it; a dead one's lock is reclaimed,
// and any nats-server it left on the store is stopped first (one store, one server).
import { link, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { natsServersOnStore } from "@mambalign/core";
import { CliError } from "../cli-io.js";

export interface LockInfo {
  pid: number;
  startedAt: string;
  /** gRPC address, once the API listens. */
  addr?: string;
}

export interface StateDirLock {
  /** Records the API address for whoever finds the directory in use. */
  setAddr(addr: string): Promise<void>;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * When `pid` started (ms since the epoch), from Linux /proc; undefined elsewhere. A lock older than
 * its pid's process was written by another process that had that pid (pids restart at each boot
 * and in each container).
 */
async function processStartMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime, clock ticks after boot); fields counted after the ")" closing the name.
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const btime = Number(/^btime (\d+)$/m.exec(await readFile("/proc/stat", "utf8"))?.[1]);
    // USER_HZ is 100 on every Linux architecture Node runs on.
    return Number.isFinite(ticks) && Number.isFinite(btime) ? btime * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock's owner still runs: its pid is alive and that process is not younger than the lock. */
async function ownerAlive(owner: LockInfo, file: string): Promise<boolean> {
  // Our own pid: a lock this process holds, or one a previous process with our pid left (a container restarted).
  if (owner.pid === process.pid) return held.has(file);
  if (!alive(owner.pid)) return false;
  const started = await processStartMs(owner.pid);
  const locked = Date.parse(owner.startedAt);
  // Start times from /proc are only as exact as btime (1 s): allow that much.
  return started === undefined || !Number.isFinite(locked) || started <= locked + 2_000;
}

/** Lock files this process holds. */
const held = new Set<string>();

async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    const info = JSON.parse(await readFile(file, "utf8")) as Partial<LockInfo>;
    return Number.isInteger(info.pid) && (info.pid as number) > 0 ? (info as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (!alive(pid)) return true;
  return !alive(pid);
}

/** Stops nats-servers a dead owner left on `storeDir` (SIGTERM, then SIGKILL after 10 s). */
async function stopLeftoverServers(storeDir: string): Promise<void> {
  for (const pid of await natsServersOnStore(storeDir)) {
    try {
      process.kill(pid, "SIGTERM");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") continue;
      throw new CliError(`nats-server pid ${pid} serves ${storeDir} and cannot be stopped from here (${(err as Error).message}); stop it first`);
    }
    if (!(await waitGone(pid, 10_000))) process.kill(pid, "SIGKILL");
    if (!(await waitGone(pid, 5_000))) throw new CliError(`nats-server pid ${pid} left on ${storeDir} does not stop; stop it by hand`);
  }
}

export async function lockStateDir(stateDir: string, storeDir: string): Promise<StateDirLock> {
  const file = path.join(stateDir, "up.lock");
  const mine: LockInfo = { pid: process.pid, startedAt: new Date().toISOString() };
  const tmp = `${file}.tmp-${process.pid}`;
  for (let attempt = 0; ; attempt++) {
    try {
      // link() fails if the lock exists: of two starts racing for a free directory exactly one
      // creates it, and it never exists half-written (a reader would take that for a stale lock).
      await writeFile(tmp, JSON.stringify(mine));
      await link(tmp, file);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 2) throw err;
    } finally {
      await rm(tmp, { force: true });
    }
    const owner = await readLock(file);
    if (owner && (await ownerAlive(owner, file))) {
      throw new CliError(
        `state directory ${stateDir} is in use by mambalign pid ${owner.pid}${owner.addr ? ` (API at ${owner.addr})` : ""}: ` +
          `use that one (MAMBALIGN_ADDR=${owner.addr ?? "its address"}), stop it, or pick another --state-dir`,
      );
    }
    // The owner died without cleaning up: move its lock aside, then take the directory as if it
    // were free. Had a racing start already replaced the stale lock with its own, put that back.
    const aside = `${file}.stale-${process.pid}`;
    if (await rename(file, aside).then(() => true, () => false)) {
      const moved = await readLock(aside);
      if (moved && moved.pid !== owner?.pid && (await ownerAlive(moved, file))) await link(aside, file).catch(() => undefined);
      await rm(aside, { force: true });
    }
  }
  held.add(file);
  // No live owner now: a nats-server still on the store is a leftover of a crash.
  await stopLeftoverServers(storeDir).catch(async (err: unknown) => {
    held.delete(file);
    await rm(file, { force: true });
    throw err;
  });
  const write = (info: LockInfo) => writeFile(tmp, JSON.stringify(info)).then(() => rename(tmp, file));
  return {
    setAddr: (addr) => write({ ...mine, addr }),
    release: async () => {
      if (!held.delete(file)) return;
      if ((await readLock(file))?.pid === process.pid) await rm(file, { force: true });
    },
  };
}
