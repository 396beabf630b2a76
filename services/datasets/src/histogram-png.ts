// The token-length histogram of a dataset card as a PNG: bars on a light grid, drawn pixel by
// pixel with pngjs (no browser needed). Axis values are in the card's text, which names the bins.
import { PNG } from "pngjs";

export interface Histogram {
  /** bins + 1 bin edges (token counts). */
  edges: number[];
  counts: number[];
}

const W = 640;
const H = 320;
const PAD = 24;

type Rgb = [number, number, number];

function fill(png: PNG, x0: number, y0: number, x1: number, y1: number, [r, g, b]: Rgb): void {
  for (let y = Math.max(0, y0); y < Math.min(H, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(W, x1); x++) {
      const i = (y * W + x) * 4;
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 255;
    }
  }
}

/** One PNG per histogram; a split drawn in another colour sits beside the first. */
export function histogramPng(series: { histogram: Histogram; colour?: Rgb }[]): Buffer {
  const png = new PNG({ width: W, height: H });
  fill(png, 0, 0, W, H, [255, 255, 255]);
  const plotW = W - 2 * PAD;
  const plotH = H - 2 * PAD;
  // Horizontal grid every quarter of the tallest bar.
  for (let q = 0; q <= 4; q++) {
    const y = PAD + Math.round((plotH * q) / 4);
    fill(png, PAD, y, W - PAD, y + 1, [225, 225, 225]);
  }
  const max = Math.max(1, ...series.flatMap((s) => s.histogram.counts));
  const bins = Math.max(1, ...series.map((s) => s.histogram.counts.length));
  const slot = plotW / bins;
  const palette: Rgb[] = [[66, 110, 180], [230, 140, 50]];
  series.forEach((s, k) => {
    const colour = s.colour ?? palette[k % palette.length]!;
    const barW = Math.max(1, Math.floor((slot - 2) / series.length));
    s.histogram.counts.forEach((c, i) => {
      const h = Math.round((c / max) * plotH);
      const x = PAD + Math.round(i * slot) + 1 + k * barW;
      fill(png, x, PAD + plotH - h, x + barW, PAD + plotH, colour);
    });
  });
  // Axes.
  fill(png, PAD, PAD + plotH, W - PAD, PAD + plotH + 2, [40, 40, 40]);
  fill(png, PAD - 2, PAD, PAD, PAD + plotH + 2, [40, 40, 40]);
  return PNG.sync.write(png);
}
