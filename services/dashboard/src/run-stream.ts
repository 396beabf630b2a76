// GET /api/runs/<id>/stream: the run as Server-Sent Events while it trains. One WatchRun per viewer (replayed from
// the start, then live, with the viewer's credential); `run` events carry each new snapshot, `charts` events the
// run's training curves as SVG figures (core's chart specs and renderer, the ones `mambalign report` draws) with the
// latest step,
// re-rendered at most once a second while steps arrive; `end` when the run has ended; `failure` when the API
// refused or failed.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Run, streamResponses, type WatchRunResponse } from "@mambalign/core";
import { chartFigures, type StepRow, trainingCharts, trainingStepOf } from "@mambalign/core/charts";
import type { Logger } from "pino";
import { type ApiClients, userMetadata } from "./api-clients.js";

/** Shortest time between two renders of a viewer's charts. */
const RENDER_EVERY_MS = 1_000;
/** Most steps drawn per run: beyond it the curves show evenly spaced steps (first and last kept), so a long run stays quick to draw. */
const MAX_DRAWN_STEPS = 2_000;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

export interface RunStreamDeps {
  apis: ApiClients;
  logger: Logger;
  /** Open streams, for the dashboard's gauge. */
  onOpen(): void;
  onClose(): void;
}

/** At most `max` of the rows, evenly spaced, the first and the last among them; all of them when there are fewer. */
export function evenlySpaced<T>(rows: T[], max: number): T[] {
  if (rows.length <= max) return rows;
  return Array.from({ length: max }, (_, i) => rows[Math.round((i * (rows.length - 1)) / (max - 1))]!);
}

export async function streamRun(deps: RunStreamDeps, req: IncomingMessage, res: ServerResponse, authorization: string, runId: string): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive" });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const call = deps.apis.pipeline.watchRun({ id: runId, fromSeq: 0n }, userMetadata(authorization));
  let closed = false;
  req.on("close", () => {
    closed = true;
    call.cancel();
  });
  deps.onOpen();

  const steps: StepRow[] = [];
  let rendered = 0;
  let rendering: Promise<void> | undefined;
  const render = () =>
    (rendering ??= (async () => {
      try {
        const count = steps.length;
        const last = steps.at(-1);
        const figures = await chartFigures(trainingCharts(evenlySpaced(steps, MAX_DRAWN_STEPS)));
        rendered = count;
        const latest = last ? { stage: last.stage, step: last.step, loss: last.values["train/loss"] ?? null } : null;
        if (!closed) send("charts", { steps: count, latest, figures });
      } catch (err) {
        deps.logger.warn({ err, runId }, "dashboard: rendering a run's charts failed");
      } finally {
        rendering = undefined;
      }
    })());
  const ticker = setInterval(() => {
    if (steps.length !== rendered) void render();
  }, RENDER_EVERY_MS);
  const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
  try {
    for await (const r of streamResponses<WatchRunResponse>(call)) {
      if (r.run) send("run", Run.toJSON(r.run));
      const step = r.event && trainingStepOf(r.event);
      if (step) steps.push(step);
    }
    await rendering;
    await render();
    send("end", {});
  } catch (err) {
    if (!closed) send("failure", { message: err instanceof Error ? err.message.slice(0, 500) : "watch failed", code: (err as { code?: number }).code ?? null });
  } finally {
    clearInterval(ticker);
    clearInterval(keepalive);
    deps.onClose();
    res.end();
  }
}
