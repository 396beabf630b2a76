// Charts as data: a Vega-Lite (or, where Vega-Lite has no mark for it, a Vega) spec, rendered to SVG
// in-process by vega's headless View and rasterised to PNG by resvg. No browser, nothing fetched.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Resvg } from "@resvg/resvg-js";
import { parse, View, type Spec } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** One chart of a report: an id (file and element name), a caption and its spec. */
export interface ChartSpec {
  id: string;
  title: string;
  /** Vega-Lite unless `vega` says it is a full Vega spec. */
  spec: TopLevelSpec | Spec;
  vega?: boolean;
}

/** Text in charts uses this family, loaded from the npm package dejavu-fonts-ttf (not the system's: same pixels everywhere). */
export const CHART_FONT = "DejaVu Sans";
const FONT_DIR = join(dirname(createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json")), "ttf");
const FONT_FILES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) => join(FONT_DIR, f));

const CONFIG = { font: CHART_FONT, background: "#ffffff" };

/** The chart as a standalone <svg> element. */
export async function chartSvg(chart: ChartSpec): Promise<string> {
  const vegaSpec: Spec = chart.vega
    ? { ...(chart.spec as Spec), config: { ...CONFIG, ...(chart.spec as Spec).config } }
    : compile({ ...(chart.spec as TopLevelSpec), config: { ...CONFIG, ...(chart.spec as TopLevelSpec).config } } as TopLevelSpec).spec;
  // renderer "none": no DOM or canvas; toSVG builds the scenegraph and serialises it.
  const view = new View(parse(vegaSpec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** An SVG rasterised to PNG at its own size (or `scale` times it), on white. */
export function svgToPng(svg: string, scale = 1): Buffer {
  const resvg = new Resvg(svg, {
    background: "#ffffff",
    fitTo: scale === 1 ? { mode: "original" } : { mode: "zoom", value: scale },
    font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: CHART_FONT, sansSerifFamily: CHART_FONT },
  });
  return resvg.render().asPng();
}

/** The chart's PNG. */
export async function chartPng(chart: ChartSpec, scale = 1): Promise<Buffer> {
  return svgToPng(await chartSvg(chart), scale);
}

/** Text made safe for HTML and SVG. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
