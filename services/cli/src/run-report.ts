// `mambalign report RUN`: one static HTML page (inline SVG, no scripts, nothing fetched) with the run's training
// curves, DPO rewards, evaluation charts and adapter lineage, and a PNG of each chart beside it.
import { Stage } from "@mambalign/core";
import { type ChartSpec, escapeXml, REPORT_STYLE, writeChartReport, type WrittenReport } from "@mambalign/core/charts";
import { buildCharts, metricsTable } from "@mambalign/evaluator/judging";
import { runStatusName } from "./run-format.js";
import type { RunReportData, StepRow } from "./run-report-data.js";

const TRAIN_METRICS: [string, string][] = [
  ["train/loss", "loss"],
  ["train/learning_rate", "learning rate"],
  ["train/grad_norm", "grad norm"],
  ["train/tokens_per_s", "tokens/s"],
];
const DPO_METRICS: [string, string][] = [
  ["rewards/chosen", "reward (chosen)"],
  ["rewards/rejected", "reward (rejected)"],
  ["rewards/margins", "reward margin"],
  ["rewards/accuracies", "reward accuracy"],
  ["kl", "KL"],
  ["objective/kl", "KL"],
  ["rewards/kl", "KL"],
];

/** One small-multiples line chart of the metrics present, per step; null when none is. */
function stepChart(id: string, title: string, rows: StepRow[], metrics: [string, string][]): ChartSpec | null {
  const values = rows.flatMap((r) => metrics.flatMap(([key, name]) => (key in r.values ? [{ step: r.step, metric: name, value: r.values[key] }] : [])));
  if (!values.length) return null;
  const names = [...new Set(values.map((v) => v.metric))];
  return {
    id,
    title,
    spec: {
      title: { text: title, fontSize: 16 },
      data: { values },
      columns: Math.min(names.length, 4),
      facet: { field: "metric", type: "nominal", sort: names, title: null, header: { labelFontWeight: "bold" } },
      resolve: { scale: { y: "independent" } },
      spec: {
        width: 220,
        height: 150,
        mark: { type: "line", point: values.length < 200, color: "#4e79a7" },
        encoding: {
          x: { field: "step", type: "quantitative", title: "step", axis: { format: "d", tickMinStep: 1 } },
          // A learning rate of 2e-6 reads as such, not as 0.000002; tokens/s as 4000, not 4e+3.
          y: { field: "value", type: "quantitative", title: null, scale: { zero: false }, axis: { labelExpr: "datum.value != 0 && abs(datum.value) < 0.001 ? format(datum.value, '~e') : format(datum.value, '~r')" } },
        },
      },
    },
  };
}

/** The report's charts in page order: per training stage its curves (and a DPO stage its rewards), then the evaluation's. */
export function runReportCharts(data: RunReportData): ChartSpec[] {
  const stages = [...new Set(data.steps.map((s) => s.stage))];
  const charts = stages.flatMap((stage) => {
    const rows = data.steps.filter((s) => s.stage === stage);
    return [stepChart(`${stage}-training`, `${stage}: training`, rows, TRAIN_METRICS), stepChart(`${stage}-rewards`, `${stage}: DPO rewards`, rows, DPO_METRICS)];
  });
  return [...charts.filter((c): c is ChartSpec => c !== null), ...(data.evalResults ? buildCharts(data.evalResults) : [])];
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
