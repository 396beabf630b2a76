// The judging library's JudgeCache over our object store, so every replica (and every rerun) shares answers.
import { joinKey, ObjectNotFoundError, type ObjectStore } from "@mambalign/core";
import { type CachedJudgeResponse, type JudgeCache, type JudgeCacheKey, judgeCacheObjectKey } from "./judging/index.js";

/** Under the evaluator's own prefix; eval ids never take this name (see evalIdOf). */
export const JUDGE_CACHE_PREFIX = "evals/judge-cache";

export class ObjectStoreJudgeCache implements JudgeCache {
  constructor(
    private readonly store: ObjectStore,
    private readonly prefix = JUDGE_CACHE_PREFIX,
  ) {}

  async get(key: JudgeCacheKey): Promise<CachedJudgeResponse | undefined> {
    let bytes: Buffer;
    try {
      bytes = await this.store.get(joinKey(this.prefix, judgeCacheObjectKey(key)));
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
    try {
      const entry = JSON.parse(bytes.toString("utf8")) as CachedJudgeResponse;
      // A damaged or foreign entry is a miss: the call is made again and the entry rewritten.
      return entry.requestSha256 === key.requestSha256 && entry.judgeModel === key.judgeModel ? entry : undefined;
    } catch {
      return undefined;
    }
  }

  async put(entry: CachedJudgeResponse): Promise<void> {
    await this.store.put(joinKey(this.prefix, judgeCacheObjectKey(entry)), JSON.stringify(entry), { contentType: "application/json" });
  }
}
