// Makes directories really unwritable for a while, also for root (tests run as root, and root
// ignores permission bits): `chattr +i` as root, `chmod a-w` otherwise. Null where neither works.
import { execFile } from "node:child_process";
import * as fsp from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Blocks writes under `dirs`; resolves to the function that restores them, or null when impossible here. */
export async function makeUnwritable(dirs: string[]): Promise<(() => Promise<void>) | null> {
  if (process.getuid?.() !== 0) {
    const modes = await Promise.all(dirs.map(async (d) => (await fsp.stat(d)).mode & 0o7777));
    await Promise.all(dirs.map((d) => fsp.chmod(d, 0o555)));
    return async () => {
      await Promise.all(dirs.map((d, i) => fsp.chmod(d, modes[i]!)));
    };
  }
  try {
    await run("chattr", ["+i", ...dirs]);
  } catch {
    return null; // no chattr, or a filesystem without the immutable attribute (tmpfs, overlayfs)
  }
  return async () => {
    await run("chattr", ["-i", ...dirs]);
  };
}
