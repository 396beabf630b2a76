// A report folder: one static HTML page with the charts inline as SVG, and a PNG of each chart beside it.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chartSvg, type ChartSpec, escapeXml, svgToPng } from "./render-chart.js";

/** CSS of a report page (inline: the page opens offline). */
export const REPORT_STYLE = `body{font-family:sans-serif;margin:24px;color:#222;background:#fff}h1{font-size:22px}h2{font-size:17px;margin-top:28px}
figure.chart{display:inline-block;margin:8px 16px 8px 0;vertical-align:top}figcaption{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.note{font-size:12px;color:#555}`;

function figure(c: ChartSpec, svg: string): string {
  // data-chart names the PNG written beside the page (<id>.png), for readers and tests of the page.
  return `<figure class="chart" id="chart-${escapeXml(c.id)}" data-chart="${escapeXml(c.id)}">${svg}<figcaption>${escapeXml(c.title)}</figcaption></figure>`;
}

/** Each chart as a <figure> with its inline SVG. */
export async function chartFigures(charts: ChartSpec[]): Promise<string[]> {
  return Promise.all(charts.map(async (c) => figure(c, await chartSvg(c))));
}

export interface WrittenReport {
  htmlPath: string;
  /** Chart id -> PNG path. */
  pngs: Record<string, string>;
}

/** Writes `report.html` (`page` builds it around the figures) and `<chart id>.png` per chart into `outDir`. */
export async function writeChartReport(outDir: string, charts: ChartSpec[], page: (figures: string[]) => string): Promise<WrittenReport> {
  await mkdir(outDir, { recursive: true });
  const figures: string[] = [];
  const pngs: Record<string, string> = {};
  for (const c of charts) {
    const svg = await chartSvg(c);
    figures.push(figure(c, svg));
    pngs[c.id] = join(outDir, `${c.id}.png`);
    await writeFile(pngs[c.id]!, svgToPng(svg));
  }
  const htmlPath = join(outDir, "report.html");
  await writeFile(htmlPath, page(figures));
  return { htmlPath, pngs };
}
