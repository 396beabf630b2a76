// `mambalign report RUN`: one static HTML page (inline SVG, no scripts, nothing fetched) with the run's training
// curves, DPO rewards, evaluation charts and adapter lineage, and a PNG of each chart beside it.
import { Stage } from "@mambalign/core";
import { type ChartSpec, escapeXml, REPORT_STYLE, trainingCharts, writeChartReport, type WrittenReport } from "@mambalign/core/charts";
import { buildCharts, metricsTable } from "@mambalign/evaluator/judging";
import { runStatusName } from "./run-format.js";
import type { RunReportData } from "./run-report-data.js";

/** The report's charts in page order: per training stage its curves (and a DPO stage its rewards), then the evaluation's. */
export function runReportCharts(data: RunReportData): ChartSpec[] {
  return [...trainingCharts(data.steps), ...(data.evalResults ? buildCharts(data.evalResults) : [])];
}

function lineageTable(data: RunReportData): string {
  if (!data.lineage.length) return "";
  const base = data.lineage.at(-1)!.baseModel;
  const rows = data.lineage.map(
    (v) =>
      `<tr><td>${escapeXml(v.id)}</td><td>${escapeXml(Stage[v.stage].replace("STAGE_", "").toLowerCase())}</td><td>${escapeXml(v.parent || "(base model)")}</td><td>${escapeXml(v.manifestSha256.slice(0, 12))}</td><td>${escapeXml(v.datasets.join(", "))}</td></tr>`,
  );
  return (
    `<h2>Adapter lineage</h2><p class="note">${escapeXml([...data.lineage.map((v) => v.id), base ? `${base.uri}${base.revision ? `@${base.revision}` : ""}` : "base model"].join(" <- "))}</p>` +
    `<table id="lineage"><tr><th>version</th><th>stage</th><th>parent</th><th>manifest sha256</th><th>datasets</th></tr>${rows.join("")}</table>`
  );
}

/** Writes `report.html` and `<chart id>.png` per chart into `outDir`. */
export async function writeRunReport(data: RunReportData, outDir: string): Promise<WrittenReport> {
  const { run } = data;
  return writeChartReport(outDir, runReportCharts(data), (figures) =>
    [
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>run ${escapeXml(run.id)}</title><style>${REPORT_STYLE}</style></head><body>`,
      `<h1>Run ${escapeXml(run.id)} (${escapeXml(run.recipe?.name ?? "")})</h1>`,
      `<p class="note">${escapeXml(runStatusName(run.status))}; created ${escapeXml(run.createdAt?.toISOString() ?? "-")}; ${data.steps.length} logged training step(s)${run.message ? `; ${escapeXml(run.message)}` : ""}</p>`,
      figures.length ? figures.join("\n") : `<p>No training steps or evaluation results recorded for this run.</p>`,
      data.evalResults ? metricsTable(data.evalResults) : "",
      lineageTable(data),
      `</body></html>`,
    ].join("\n"),
  );
}
