// The fault suite's figures: what a run lost to a fault, read from its events, and the table the suite prints.
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RunEvent } from "@mambalign/core";

export interface FaultFigures {
  scenario: string;
  /** Steps trained twice: in each interrupted delivery, those past the step the next delivery resumed from. */
  stepsLost: number;
  /** save_steps of the run: the most a fault may cost. */
  checkpointInterval: number;
  /** From the fault's end (the kill, the restart, the end of the outage) to the first event showing the run moving again. */
  recoverMs: number;
  /** Deliveries of the stage (1: the fault cost no retry). */
  deliveries: number;
  /** Checkpoint uploads that failed during the fault (logged, retried by a later checkpoint or delivery). */
  failedUploads: number;
  /** Checkpoint prefixes without a manifest at the end (cut-off uploads, planted ones): none was read. */
  halfWrittenUnread: number;
  outcome: string;
}

const timeOf = (e: RunEvent) => e.time?.getTime() ?? 0;

/** Each delivery's start step and last trained step, in order (a delivery starts with the runtime's `started`). */
export function deliveries(events: RunEvent[]): { start: number; last: number; startedAt: number }[] {
  const out: { start: number; last: number; startedAt: number }[] = [];
  for (const e of events) {
    const k = e.kind?.$case === "runtime" ? e.kind.value.kind : undefined;
    if (k?.$case === "started") out.push({ start: k.value.startStep, last: k.value.startStep, startedAt: timeOf(e) });
    else if (k?.$case === "progress" && out.length) out.at(-1)!.last = Math.max(out.at(-1)!.last, k.value.step);
  }
  return out;
}

/** Steps redone: for each delivery but the last, the steps it trained past where the next one resumed. */
export function stepsLost(events: RunEvent[]): number {
  const d = deliveries(events);
  return d.slice(0, -1).reduce((n, cur, i) => n + Math.max(0, cur.last - d[i + 1]!.start), 0);
}

/** Milliseconds from `since` to the first event after it that `moving` accepts; -1 when none did. */
export function recoveryMs(events: RunEvent[], since: number, moving: (e: RunEvent) => boolean): number {
  const first = events.find((e) => timeOf(e) >= since && moving(e));
  return first ? timeOf(first) - since : -1;
}

export const isProgress = (e: RunEvent) => e.kind?.$case === "runtime" && e.kind.value.kind?.$case === "progress";
export const isFailedUpload = (e: RunEvent) => e.kind?.$case === "log" && /^checkpoint step \d+ upload to .* failed/.test(e.kind.value.message);
export const isUpload = (e: RunEvent) => e.kind?.$case === "log" && / uploaded to /.test(e.kind.value.message);

/** The one line a scenario prints. */
export function figureLine(f: FaultFigures): string {
  return `RELIABILITY ${JSON.stringify(f)}`;
}

/** The Markdown table of all scenarios. */
export function faultTable(rows: FaultFigures[]): string {
  const head =
    "| scenario | steps lost | checkpoint interval (steps) | time to recover (s) | deliveries | failed checkpoint uploads | half-written checkpoints (none read) | run outcome |\n" +
    "| --- | --- | --- | --- | --- | --- | --- | --- |";
  const body = rows.map((r) => `| ${r.scenario} | ${r.stepsLost} | ${r.checkpointInterval} | ${(r.recoverMs / 1000).toFixed(1)} | ${r.deliveries} | ${r.failedUploads} | ${r.halfWrittenUnread} | ${r.outcome} |`);
  return [head, ...body].join("\n");
}

/** Where the suite writes its table: MAMBALIGN_RELIABILITY_OUT, else a folder under the OS temp dir. */
export async function writeTable(name: string, table: string): Promise<string> {
  const dir = process.env.MAMBALIGN_RELIABILITY_OUT ?? path.join(tmpdir(), "mambalign-reliability");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await writeFile(file, table + "\n");
  return file;
}
