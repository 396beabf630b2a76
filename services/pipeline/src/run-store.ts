// The `runs` KV bucket: run id -> Run; the `run-requests` bucket: `req.<request_id>` -> run id (the
// idempotency record). Separate buckets, so no run id a caller sends can reach a request record.
import { type Bus, KvConflictError, type ProtoKv, Run } from "@mambalign/core";
import { isRunId, requestKey } from "./run-ids.js";

export const RUNS_BUCKET = "runs";
export const RUN_REQUESTS_BUCKET = "run-requests";

const RunCodec = { encode: (r: Run) => Run.toJSON(r), decode: (j: unknown) => Run.fromJSON(j) };
const RunIdCodec = {
  encode: (runId: string) => ({ runId }),
  decode: (j: unknown) => {
    const id = (j as { runId?: unknown } | null)?.runId;
    if (typeof id !== "string" || !id) throw new Error("request record without runId");
    return id;
  },
};

export class RunStore {
  private constructor(
    private readonly runs: ProtoKv<Run>,
    private readonly requests: ProtoKv<string>,
  ) {}

  static async open(bus: Bus): Promise<RunStore> {
    return new RunStore(await bus.kv(RUNS_BUCKET, RunCodec), await bus.kv(RUN_REQUESTS_BUCKET, RunIdCodec));
  }

  get(runId: string): Promise<{ value: Run; revision: number } | null> {
    return this.runs.get(runId);
  }

  create(run: Run): Promise<number> {
    return this.runs.create(run.id, run);
  }

  /** Undoes a create whose artifacts could not be written. */
  async delete(runId: string): Promise<void> {
    await this.runs.delete(runId);
  }

  /** The run's current value, then each change (null once deleted), until the signal aborts. */
  async *watch(runId: string, signal: AbortSignal): AsyncGenerator<Run | null> {
    for await (const e of this.runs.watch({ key: runId, signal })) yield e.value;
  }

  /** Every run, newest first (run ids start with the recipe name, so sort by creation time). */
  async list(): Promise<Run[]> {
    // Only run ids: request records that older versions kept in this bucket are skipped.
    const keys = (await this.runs.keys()).filter(isRunId);
    const runs = (await Promise.all(keys.map((k) => this.runs.get(k)))).flatMap((e) => (e ? [e.value] : []));
    return runs.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
  }

  /** The run a request id already started, if any. */
  async runIdFor(requestId: string): Promise<string | null> {
    return (await this.requests.get(requestKey(requestId)))?.value ?? null;
  }

  /** Claims a request id for a run; false when another call claimed it first (the KV create is the CAS). */
  async claimRequest(requestId: string, runId: string): Promise<boolean> {
    try {
      await this.requests.create(requestKey(requestId), runId);
      return true;
    } catch (err) {
      if (err instanceof KvConflictError) return false;
      throw err;
    }
  }

  async releaseRequest(requestId: string): Promise<void> {
    await this.requests.delete(requestKey(requestId));
  }

  /**
   * The run once stored and `ready` (by default: written at all, as a run claimed by another call
   * is within milliseconds of its claim); null after `timeoutMs` or once `signal` aborts.
   */
  async waitFor(runId: string, timeoutMs: number, ready: (run: Run) => boolean = () => true, signal?: AbortSignal): Promise<Run | null> {
    const timeout = AbortSignal.timeout(timeoutMs);
    for await (const e of this.runs.watch({ key: runId, signal: signal ? AbortSignal.any([signal, timeout]) : timeout })) {
      if (e.value && ready(e.value)) return e.value;
    }
    return null;
  }

  /**
   * Read-modify-write under compare-and-set: `fn` gets the current run and returns the next one (or
   * null for "no change"); a lost race re-reads and calls `fn` again. `before` runs after `fn` and
   * before the write (publishing jobs, which deduplicate, so a retried write may publish again).
   */
  async update<T extends { run: Run } | null>(
    runId: string,
    fn: (run: Run) => T,
    before?: (result: NonNullable<T>) => Promise<void>,
  ): Promise<T | null> {
    for (;;) {
      const cur = await this.runs.get(runId);
      if (!cur) return null;
      const result = fn(cur.value);
      if (result === null) return result;
      if (before) await before(result as NonNullable<T>);
      try {
        await this.runs.update(runId, result.run, cur.revision);
        return result;
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
      }
    }
  }
}
