import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * Streams `source` (optionally through `through`) into a temp file beside `localPath`
 * and renames it into place: a crash or a failed check never leaves a partial file at
 * `localPath`. `beforeRename` may throw to reject the content.
 */
export async function writeFileAtomic(
  localPath: string,
  source: NodeJS.ReadableStream,
  opts: { through?: Transform; beforeRename?: () => void | Promise<void> } = {},
): Promise<void> {
  const dest = path.resolve(localPath);
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.partial-${randomBytes(6).toString("hex")}`;
  try {
    const out = createWriteStream(tmp);
    if (opts.through) await pipeline(source as Readable, opts.through, out);
    else await pipeline(source as Readable, out);
    await opts.beforeRename?.();
    await fsp.rename(tmp, dest);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}
