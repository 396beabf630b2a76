// The files the runtime's experiment trackers write (recipe report_to; runtime trackers.py), stored with the
// run under the trainer's own prefix: checkpoints/<run>/tensorboard/<stage>/ (so that
// `tensorboard --logdir s3://<bucket>/checkpoints/<run>/tensorboard` shows every stage as one run of its own)
// and checkpoints/<run>/wandb/<stage>/ (W&B's offline run files, for `wandb sync` later).
import { promises as fsp } from "node:fs";
import path from "node:path";
import { joinKey, type ObjectStore, type Stage } from "@mambalign/core";
import { checkpointRoot, stageSlug } from "./checkpoint-keys.js";

/** Sub-directories of the runtime's output dir that trackers write, each stored under the same name. */
export const TRACKER_DIRS = ["tensorboard", "wandb"] as const;

// W&B's debug logs hold machine details and nothing a tracker UI reads; symlinks (wandb/latest-run) point elsewhere.
const SKIPPED = /(^|\/)debug(-internal|-core)?\.log$/;

export function trackerPrefix(runId: string, stage: Stage, tracker: (typeof TRACKER_DIRS)[number]): string {
  const slug = stageSlug(stage);
  if (!slug) throw new Error(`stage ${stage} has no tracker files`);
  return `${checkpointRoot(runId)}/${tracker}/${slug}`;
}

/**
 * Uploads what the trackers wrote so far. Event files are appended to while training runs, so a file
 * whose size or mtime changed since the last sync is uploaded again, whole; syncs run one at a time.
 */
export class TrackerFiles {
  #chain: Promise<number> = Promise.resolve(0);
  readonly #seen = new Map<string, string>();

  constructor(
    private readonly store: ObjectStore,
    private readonly outDir: string,
    private readonly runId: string,
    private readonly stage: Stage,
  ) {}

  /** Resolves to the number of files uploaded by this sync. */
  sync(): Promise<number> {
    const next = this.#chain.then(() => this.#syncOnce());
    this.#chain = next.catch(() => 0);
    return next;
  }

  async #syncOnce(): Promise<number> {
    let uploaded = 0;
    for (const tracker of TRACKER_DIRS) {
      const root = path.join(this.outDir, tracker);
      const prefix = trackerPrefix(this.runId, this.stage, tracker);
      for (const rel of await filesUnder(root)) {
        if (SKIPPED.test(rel)) continue;
        const file = path.join(root, rel);
        const st = await fsp.stat(file);
        const stamp = `${st.size}:${st.mtimeMs}`;
        if (this.#seen.get(file) === stamp) continue;
        await this.store.putFile(joinKey(prefix, rel), file);
        this.#seen.set(file, stamp);
        uploaded++;
      }
    }
    return uploaded;
  }
}

/** Regular files under `root`, relative with "/" separators; none when it does not exist. */
async function filesUnder(root: string, rel = ""): Promise<string[]> {
  let entries;
  try {
    entries = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(root, p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
