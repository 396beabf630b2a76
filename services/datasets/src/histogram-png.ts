// The token-length histogram of a dataset card as a PNG: one bar series per split, on a Vega-Lite spec.
import { chartPng } from "@mambalign/core/charts";

export interface Histogram {
  /** bins + 1 bin edges (token counts). */
  edges: number[];
  counts: number[];
}

/** One PNG for the splits' histograms, overlaid (the test split drawn over the train split). */
export async function histogramPng(series: { split: string; histogram: Histogram }[]): Promise<Buffer> {
  const values = series.flatMap(({ split, histogram: h }) => h.counts.map((count, i) => ({ split, lo: h.edges[i], hi: h.edges[i + 1], count })));
  return chartPng({
    id: "token-lengths",
    title: "Token lengths",
    spec: {
      title: "Sequence length (tokens) per split",
      width: 560,
      height: 240,
      data: { values },
      mark: { type: "bar", opacity: 0.75, binSpacing: 1 },
      encoding: {
        x: { field: "lo", type: "quantitative", bin: { binned: true }, title: "tokens" },
        x2: { field: "hi" },
        y: { field: "count", type: "quantitative", stack: null, title: "sequences" },
        color: { field: "split", type: "nominal", title: null, scale: { domain: series.map((s) => s.split), range: ["#426eb4", "#e68c32"] } },
      },
    },
  });
}
