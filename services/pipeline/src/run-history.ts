// A run's events kept in the object store under the pipeline's own prefix, so its history outlives the EVENTS
// stream (30-day retention, a NATS wipe). Each event is written as it is consumed, one small object per event
// (`runs/<id>/events/<job>/<seq>.json`, durable before the event is acked); when the job (or the run) ends its events
// are gathered into one JSON-lines file per job (`runs/<id>/events/<job>.jsonl`, job = `sft.1`, `eval-base.1`, or
// `run` for the run-level end) and the small objects removed.
import { ObjectNotFoundError, type ObjectStore, RunEvent, StageStatus } from "@mambalign/core";
import { isRunEndEvent } from "./run-machine.js";

export interface HistoryEntry {
  /** EVENTS stream sequence: orders the events and makes writing one twice harmless. */
  seq: number;
  event: RunEvent;
}

const eventsPrefix = (runId: string) => `runs/${runId}/events/`;
const RUN_FILE = "run";
/** `<stage>.<attempt>` after the run id in a job id; anything else is filed under "other". */
const JOB_PART = /^[a-z][a-z-]*\.[0-9]{1,6}$/;

function fileOf(ev: RunEvent): string {
  if (!ev.jobId) return RUN_FILE;
  const part = ev.jobId.startsWith(`${ev.runId}.`) ? ev.jobId.slice(ev.runId.length + 1) : "";
  return JOB_PART.test(part) ? part : "other";
}

const DONE = new Set([StageStatus.STAGE_STATUS_SUCCEEDED, StageStatus.STAGE_STATUS_FAILED, StageStatus.STAGE_STATUS_CANCELLED]);
const ends = (ev: RunEvent) => ev.kind?.$case === "transition" && DONE.has(ev.kind.value.status);

const line = (e: HistoryEntry) => JSON.stringify({ seq: e.seq, event: RunEvent.toJSON(e.event) });

function parseLines(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    try {
      const j = JSON.parse(raw) as { seq?: unknown; event?: unknown };
      if (typeof j.seq === "number" && Number.isSafeInteger(j.seq)) out.push({ seq: j.seq, event: RunEvent.fromJSON(j.event) });
    } catch {
      // A damaged line loses that event only.
    }
  }
  return out;
}

export class RunHistory {
  constructor(private readonly store: ObjectStore) {}

  /** Writes one consumed event; gathers its job's (or, at the run's end, every) file when it is the last of it. */
  async record(seq: number, event: RunEvent): Promise<void> {
    const file = fileOf(event);
    const prefix = eventsPrefix(event.runId);
    await this.store.put(`${prefix}${file}/${String(seq).padStart(16, "0")}.json`, line({ seq, event }), { contentType: "application/json" });
    if (isRunEndEvent(event)) {
      for (const f of await this.#pendingFiles(event.runId)) await this.#gather(event.runId, f);
    } else if (ends(event)) {
      await this.#gather(event.runId, file);
    }
  }

  /** Every recorded event of a run, in stream order; [] when none was recorded. */
  async read(runId: string): Promise<HistoryEntry[]> {
    const bySeq = new Map<number, HistoryEntry>();
    for await (const o of this.store.list(eventsPrefix(runId))) {
      const text = await this.#text(o.key);
      if (text !== null) for (const e of parseLines(text)) bySeq.set(e.seq, e);
    }
    return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  async #pendingFiles(runId: string): Promise<string[]> {
    const files = new Set<string>();
    const prefix = eventsPrefix(runId);
    for await (const o of this.store.list(prefix)) {
      const rest = o.key.slice(prefix.length);
      if (rest.includes("/")) files.add(rest.slice(0, rest.indexOf("/")));
    }
    return [...files];
  }

  /** Merges a job's single-event objects into its .jsonl (written first), then removes them. */
  async #gather(runId: string, file: string): Promise<void> {
    const prefix = eventsPrefix(runId);
    const target = `${prefix}${file}.jsonl`;
    const bySeq = new Map<number, HistoryEntry>();
    const existing = await this.#text(target);
    if (existing !== null) for (const e of parseLines(existing)) bySeq.set(e.seq, e);
    const pending: string[] = [];
    for await (const o of this.store.list(`${prefix}${file}/`)) {
      pending.push(o.key);
      const text = await this.#text(o.key);
      if (text !== null) for (const e of parseLines(text)) bySeq.set(e.seq, e);
    }
    if (!pending.length) return;
    const entries = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    await this.store.put(target, `${entries.map(line).join("\n")}\n`, { contentType: "application/x-ndjson" });
    for (const key of pending) await this.store.delete(key);
  }

  async #text(key: string): Promise<string | null> {
    try {
      return (await this.store.get(key)).toString("utf8");
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return null;
      throw err;
    }
  }
}
