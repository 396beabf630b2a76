// Waiting for a process that is not our child (so no 'exit' event) to end: polled with kill(pid, 0).

/** True once `pid` no longer exists; false if it still does after `ms`. */
export async function processGone(pid: number, ms = 30_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
  }
  return false;
}
