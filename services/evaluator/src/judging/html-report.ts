import { chartFigures, escapeXml, REPORT_STYLE, writeChartReport, type WrittenReport } from "@mambalign/core/charts";
import { buildCharts } from "./eval-charts.js";
import { flattenEvalMetrics, parseEvalResults, type EvalResults, type EvalResultsInput } from "./results-schema.js";

/** A self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched): charts, a metrics table and the judges. */
export async function renderEvalReportHtml(input: EvalResultsInput | EvalResults): Promise<string> {
  const results = parseEvalResults(input);
  return evalReportPage(results, await chartFigures(buildCharts(results)));
}

/** Writes `report.html` and one `<chart id>.png` per chart into `outDir`. */
export async function writeEvalReport(input: EvalResultsInput | EvalResults, outDir: string): Promise<WrittenReport> {
  const results = parseEvalResults(input);
  return writeChartReport(outDir, buildCharts(results), (figures) => evalReportPage(results, figures));
}

function evalReportPage(results: EvalResults, figures: string[]): string {
  return [
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeXml(results.title)}</title><style>${REPORT_STYLE}</style></head><body>`,
    `<h1>${escapeXml(results.title)}</h1><p class="note">created ${escapeXml(results.createdAt)}</p>`,
    ...figures,
    metricsTable(results),
    judgesSection(results),
    `</body></html>`,
  ].join("\n");
}

/** The entries' flat metrics side by side (base, SFT, DPO). */
export function metricsTable(results: EvalResults): string {
  const flat = results.entries.map(flattenEvalMetrics);
  const names = [...new Set(flat.flatMap((m) => Object.keys(m)))].sort();
  if (!names.length) return "";
  const head = `<tr><th>metric</th>${results.entries.map((e) => `<th>${escapeXml(e.label)}${e.versionId ? `<br><span class="note">${escapeXml(e.versionId)}</span>` : ""}</th>`).join("")}</tr>`;
  const rows = names
    .map((n) => `<tr><td>${escapeXml(n)}</td>${flat.map((m) => `<td>${m[n] === undefined ? "" : fmt(m[n]!)}</td>`).join("")}</tr>`)
    .join("");
  return `<h2>Metrics</h2><table id="metrics">${head}${rows}</table>`;
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(3);
}

function judgesSection(results: EvalResults): string {
  const lines: string[] = [];
  for (const e of results.entries) {
    if (e.mtBench) lines.push(`${e.label} MT-Bench: judge ${[...e.mtBench.judges, ...e.mtBench.judgeSnapshots].join(", ") || "-"}; ${e.mtBench.nUnparsable} unparsable judgment(s) excluded`);
    for (const v of ["v1", "v2"] as const) {
      const r = e.alpacaEval[v];
      if (!r) continue;
      const s = r.scores;
      const lc = s.lengthControlled
        ? `LC (AlpacaEval length_controlled_v1) fitted on ${s.lengthControlled.nFitted} annotations and ${s.lengthControlled.nGamed} gamed-baseline rows, difficulty from ${s.lengthControlled.source}`
        : `no LC (${s.lengthControlledSkipped ?? "not computed"})` +
          (s.lengthAdjustedNoDifficulty ? `; length-adjusted win rate without instruction difficulty ${s.lengthAdjustedNoDifficulty.winRate.toFixed(2)} (not comparable with AlpacaEval's LC)` : "");
      lines.push(
        `${e.label} AlpacaEval ${v}: judge ${[r.judgeModel, ...r.judgeSnapshots].filter(Boolean).join(", ") || "-"}; baseline ${s.baseline}; ${s.nTotal} judged, ${s.nDropped} dropped, ${s.nMissingOutputs} missing outputs; ${lc}`,
      );
    }
  }
  return lines.length ? `<h2>Judges and counts</h2><ul class="note">${lines.map((l) => `<li>${escapeXml(l)}</li>`).join("")}</ul>` : "";
}
