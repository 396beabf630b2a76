import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { randomUUID } from "node:crypto";

/** A cached judge call is found by the judge model and the sha256 of the canonical request body. */
export interface JudgeCacheKey {
  judgeModel: string;
  requestSha256: string;
}

export interface CachedJudgeResponse extends JudgeCacheKey {
  /** The request body as sent (model, messages, decoding settings): lets an audit replay it. */
  request: unknown;
  /** The endpoint's JSON answer, unchanged. */
  response: unknown;
  storedAt: string;
}

/** Where judge answers are kept so a rerun costs nothing. The service also implements it over S3. */
export interface JudgeCache {
  get(key: JudgeCacheKey): Promise<CachedJudgeResponse | undefined>;
  put(entry: CachedJudgeResponse): Promise<void>;
}

/**
 * Relative object key of a cache entry: `<judge model>/<sha[0:2]>/<sha>.json`. The model name is
 * reduced to safe characters; the hash already covers the model, so a shared folder never mixes answers.
 */
export function judgeCacheObjectKey(key: JudgeCacheKey): string {
  if (!/^[0-9a-f]{64}$/.test(key.requestSha256)) {
    throw new Error(`judge cache: requestSha256 must be 64 hex digits, got ${JSON.stringify(key.requestSha256)}`);
  }
  const model = key.judgeModel.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_") || "_";
  return `${model}/${key.requestSha256.slice(0, 2)}/${key.requestSha256}.json`;
}

/** Judge cache in a local folder; entries are written to a temporary file and renamed, so readers never see half of one. */
export class FsJudgeCache implements JudgeCache {
  constructor(readonly root: string) {}

  async get(key: JudgeCacheKey): Promise<CachedJudgeResponse | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.root, judgeCacheObjectKey(key)), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    try {
      const entry = JSON.parse(text) as CachedJudgeResponse;
      // A foreign or damaged file is a miss: the call is made again and the entry rewritten.
      if (entry.requestSha256 !== key.requestSha256 || entry.judgeModel !== key.judgeModel) return undefined;
      return entry;
    } catch {
      return undefined;
    }
  }

  async put(entry: CachedJudgeResponse): Promise<void> {
    const path = join(this.root, judgeCacheObjectKey(entry));
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomUUID()}.tmp`;
    await writeFile(tmp, JSON.stringify(entry));
    await rename(tmp, path);
  }
}
