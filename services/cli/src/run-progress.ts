// Live view of a run from WatchRun: one progress bar per stage job on a terminal (step/total, loss,
// tokens/s, ETA), plain lines otherwise (logs, CI, pipes).
import type { Writable } from "node:stream";
import { MultiBar, Presets, type SingleBar } from "cli-progress";
import {
  type PipelineServiceClient,
  type Run,
  type RunEvent,
  StageStatus,
  streamResponses,
  type WatchRunResponse,
} from "@mambalign/core";
import { fmtNumber, runEndLine, stageLabel, stageStatusName } from "./run-format.js";



export interface ProgressOptions {
  out: Writable;
  /** Bars (true) or plain lines (false); default: whether `out` is a TTY. */
  tty?: boolean;
  /** Plain mode prints a progress line at most this often per job (default 10 s) unless 10% more was done. */
  plainIntervalMs?: number;
  signal?: AbortSignal;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "-";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

interface JobView {
  label: string;
  bar?: SingleBar;
  lastPrintedAt: number;
  lastPrintedStep: number;
  total: number;
}

/**
 * Renders one run's events until the run ends (WatchRun ends the stream); returns the last run
 * snapshot. The stream replays the run from its start, so attaching late shows the whole history.
 */
export async function showRunProgress(client: PipelineServiceClient, runId: string, opts: ProgressOptions): Promise<Run | undefined> {
  const tty = opts.tty ?? Boolean((opts.out as Writable & { isTTY?: boolean }).isTTY);
  const plainEvery = opts.plainIntervalMs ?? 10_000;
  const bars = tty
    ? new MultiBar(
        {
          stream: opts.out as NodeJS.WritableStream,
          format: "{label} |{bar}| {value}/{total} {info}",
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          barsize: 30,
        },
        Presets.shades_classic,
      )
    : undefined;
  const print = (line: string) => (bars ? bars.log(`${line}\n`) : opts.out.write(`${line}\n`));
  const views = new Map<string, JobView>();
  const viewOf = (ev: RunEvent): JobView => {
    let v = views.get(ev.jobId);
    if (!v) {
      v = { label: stageLabel(ev.stage, ev.jobId).padEnd(11), lastPrintedAt: 0, lastPrintedStep: -1, total: 1 };
      if (bars) v.bar = bars.create(1, 0, { label: v.label, info: "queued" });
      views.set(ev.jobId, v);
    }
    return v;
  };

  let last: Run | undefined;
  const call = client.watchRun({ id: runId, fromSeq: 0n });
  const onAbort = () => call.cancel();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const res of streamResponses<WatchRunResponse>(call)) {
      if (res.run) last = res.run;
      const ev = res.event;
      if (!ev) continue;
      if (!ev.jobId) {
        if (ev.kind?.$case === "transition") print(runEndLine(ev.kind.value.status, ev.kind.value.message));
        else if (ev.kind?.$case === "log") print(`run ${ev.kind.value.level}: ${ev.kind.value.message}`);
        continue;
      }
      const v = viewOf(ev);
      const kind = ev.kind;
      if (kind?.$case === "transition") {
        const t = kind.value;
        const status = stageStatusName(t.status);
        const info = t.status === StageStatus.STAGE_STATUS_SUCCEEDED ? `succeeded -> ${t.output}` : `${status}${t.message ? `: ${t.message}` : ""}`;
        if (v.bar) {
          if (t.status === StageStatus.STAGE_STATUS_SUCCEEDED) v.bar.update(v.total, { info });
          else v.bar.update({ info });
        }
        print(`[${v.label.trim()}] ${info}`);
      } else if (kind?.$case === "log") {
        if (!bars || kind.value.level !== "info") print(`[${v.label.trim()}] ${kind.value.level}: ${kind.value.message}`);
        else v.bar?.update({ info: kind.value.message.slice(0, 60) });
      } else if (kind?.$case === "runtime") {
        const rt = kind.value.kind;
        if (rt?.$case === "progress") {
          const p = rt.value;
          v.total = Math.max(p.total, 1);
          // Generation (eval) reports no loss.
          const info = `${p.loss ? `loss ${fmtNumber(p.loss)}  ` : ""}${Math.round(p.tokensPerS)} tok/s  ETA ${formatDuration(p.etaS)}`;
          if (v.bar) {
            v.bar.setTotal(v.total);
            v.bar.update(p.step, { info });
          } else {
            const now = Date.now();
            const tenth = Math.max(1, Math.floor(v.total / 10));
            if (p.step === p.total || p.step - v.lastPrintedStep >= tenth || now - v.lastPrintedAt >= plainEvery) {
              v.lastPrintedAt = now;
              v.lastPrintedStep = p.step;
              print(`[${v.label.trim()}] step ${p.step}/${p.total}  ${info}`);
            }
          }
        } else if (rt?.$case === "metrics") {
          const vals = Object.entries(rt.value.values).map(([k, x]) => `${k}=${fmtNumber(x)}`).join(" ");
          if (vals) print(`[${v.label.trim()}] ${rt.value.phase} metrics: ${vals}`);
        } else if (rt?.$case === "error") {
          print(`[${v.label.trim()}] runtime error: ${rt.value.message}`);
        }
      }
    }
  } catch (err) {
    // Cancelling our own call (signal) ends the view quietly.
    if (!opts.signal?.aborted) throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    bars?.stop();
  }
  return last;
}
