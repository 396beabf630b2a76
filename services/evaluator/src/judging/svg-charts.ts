import type { EvalResults } from "./results-schema.js";

/** One chart of the report: a standalone <svg> with its size, so it can be screenshotted alone. */
export interface Chart {
  id: string;
  title: string;
  width: number;
  height: number;
  svg: string;
}

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948", "#9c755f"];
export const colorFor = (i: number): string => PALETTE[i % PALETTE.length]!;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const f1 = (x: number): string => (Math.round(x * 10) / 10).toString();
const svgOpen = (w: number, h: number, label: string): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(label)}" font-family="sans-serif" font-size="12">` +
  `<rect width="${w}" height="${h}" fill="#ffffff"/>`;

function legend(labels: string[], x: number, y: number): string {
  return labels
    .map(
      (l, i) =>
        `<g class="legend-item"><rect x="${x}" y="${y + i * 18}" width="12" height="12" fill="${colorFor(i)}"/>` +
        `<text x="${x + 18}" y="${y + i * 18 + 10}">${escapeXml(l)}</text></g>`,
    )
    .join("");
}

/** MT-Bench radar: one polygon per entry over the categories, scale 0-10. Null when no entry has categories. */
export function mtBenchRadarChart(results: EvalResults): Chart | null {
  const entries = results.entries.filter((e) => e.mtBench && Object.keys(e.mtBench.perCategory).length);
  if (!entries.length) return null;
  const cats = [...new Set(entries.flatMap((e) => Object.keys(e.mtBench!.perCategory)))];
  const width = 560;
  const height = 480;
  const cx = 300;
  const cy = 250;
  const r = 170;
  const angle = (i: number): number => -Math.PI / 2 + (2 * Math.PI * i) / cats.length;
  const pt = (i: number, v: number): [number, number] => [cx + ((r * v) / 10) * Math.cos(angle(i)), cy + ((r * v) / 10) * Math.sin(angle(i))];
  let body = `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">MT-Bench score by category</text>`;
  for (const ring of [2, 4, 6, 8, 10]) {
    const pts = cats.map((_, i) => pt(i, ring).map(f1).join(",")).join(" ");
    body += `<polygon class="grid" points="${pts}" fill="none" stroke="#cccccc"/>`;
    body += `<text x="${cx + 3}" y="${f1(cy - (r * ring) / 10 + 12)}" fill="#888888" font-size="10">${ring}</text>`;
  }
  cats.forEach((c, i) => {
    const [x, y] = pt(i, 10);
    const [lx, ly] = pt(i, 11.4);
    const anchor = Math.abs(lx - cx) < 5 ? "middle" : lx > cx ? "start" : "end";
    body += `<line x1="${cx}" y1="${cy}" x2="${f1(x)}" y2="${f1(y)}" stroke="#cccccc"/>`;
    body += `<text class="axis-label" x="${f1(lx)}" y="${f1(ly + 4)}" text-anchor="${anchor}">${escapeXml(c)}</text>`;
  });
  entries.forEach((e, k) => {
    const values = cats.map((c) => e.mtBench!.perCategory[c] ?? 0);
    const pts = values.map((v, i) => pt(i, Math.max(0, Math.min(10, v))).map(f1).join(",")).join(" ");
    body += `<polygon class="series" data-label="${escapeXml(e.label)}" points="${pts}" fill="${colorFor(k)}" fill-opacity="0.15" stroke="${colorFor(k)}" stroke-width="2"/>`;
    values.forEach((v, i) => {
      const [x, y] = pt(i, Math.max(0, Math.min(10, v)));
      body += `<circle cx="${f1(x)}" cy="${f1(y)}" r="3" fill="${colorFor(k)}"><title>${escapeXml(`${e.label} ${cats[i]}: ${v.toFixed(2)}`)}</title></circle>`;
    });
  });
  body += legend(entries.map((e) => `${e.label} (${e.mtBench!.overall === null ? "-" : e.mtBench!.overall.toFixed(2)})`), 12, 40);
  return { id: "mt-bench-radar", title: "MT-Bench by category", width, height, svg: `${svgOpen(width, height, "MT-Bench radar")}${body}</svg>` };
}

interface WinRateGroup {
  name: string;
  bars: { label: string; value: number | null; se: number | null }[];
}

function winRateGroups(results: EvalResults): WinRateGroup[] {
  const groups: WinRateGroup[] = [];
  const add = (name: string, pick: (e: EvalResults["entries"][number]) => { value: number | null; se: number | null } | undefined): void => {
    const bars = results.entries.map((e) => ({ label: e.label, ...(pick(e) ?? { value: null, se: null }) }));
    if (bars.some((b) => b.value !== null)) groups.push({ name, bars });
  };
  add("AlpacaEval 1.0 win rate", (e) => e.alpacaEval.v1 && { value: e.alpacaEval.v1.scores.winRate, se: e.alpacaEval.v1.scores.standardError });
  add("AlpacaEval 2.0 win rate", (e) => e.alpacaEval.v2 && { value: e.alpacaEval.v2.scores.winRate, se: e.alpacaEval.v2.scores.standardError });
  add("AlpacaEval 2.0 LC win rate", (e) => e.alpacaEval.v2 && { value: e.alpacaEval.v2.scores.lengthControlled?.winRate ?? null, se: null });
  add("AlpacaEval 2.0 length-adjusted, no difficulty (not LC)", (e) => e.alpacaEval.v2 && { value: e.alpacaEval.v2.scores.lengthAdjustedNoDifficulty?.winRate ?? null, se: null });
  return groups;
}

/** Win rates (%) grouped by metric, one bar per entry, error bars at +-1.96 standard errors (95% interval). */
export function winRateChart(results: EvalResults): Chart | null {
  const groups = winRateGroups(results);
  if (!groups.length) return null;
  const n = results.entries.length;
  const barW = 30;
  const groupW = n * barW + 40;
  const left = 50;
  const top = 40;
  const plotH = 300;
  const width = Math.max(420, left + groups.length * groupW + 20 + 140);
  const height = top + plotH + 60;
  const y = (v: number): number => top + plotH - (plotH * Math.max(0, Math.min(100, v))) / 100;
  let body = `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">Win rate against the reference (%)</text>`;
  for (let t = 0; t <= 100; t += 20) {
    body += `<line x1="${left}" x2="${left + groups.length * groupW}" y1="${y(t)}" y2="${y(t)}" stroke="${t === 0 ? "#333333" : "#e5e5e5"}"/>`;
    body += `<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" fill="#555555">${t}</text>`;
  }
  body += `<line x1="${left}" x2="${left + groups.length * groupW}" y1="${y(50)}" y2="${y(50)}" stroke="#999999" stroke-dasharray="4 3"/>`;
  groups.forEach((g, gi) => {
    const gx = left + gi * groupW + 20;
    g.bars.forEach((b, bi) => {
      if (b.value === null) return;
      const x = gx + bi * barW;
      body += `<rect class="bar" data-label="${escapeXml(b.label)}" x="${x}" y="${f1(y(b.value))}" width="${barW - 4}" height="${f1(y(0) - y(b.value))}" fill="${colorFor(bi)}"><title>${escapeXml(`${b.label}: ${b.value.toFixed(2)}%${b.se !== null ? ` ± ${b.se.toFixed(2)}` : ""}`)}</title></rect>`;
      if (b.se !== null) {
        const cx = x + (barW - 4) / 2;
        const lo = y(b.value - 1.96 * b.se);
        const hi = y(b.value + 1.96 * b.se);
        body += `<g class="error-bar" stroke="#222222"><line x1="${f1(cx)}" x2="${f1(cx)}" y1="${f1(lo)}" y2="${f1(hi)}"/><line x1="${f1(cx - 5)}" x2="${f1(cx + 5)}" y1="${f1(lo)}" y2="${f1(lo)}"/><line x1="${f1(cx - 5)}" x2="${f1(cx + 5)}" y1="${f1(hi)}" y2="${f1(hi)}"/></g>`;
      }
      body += `<text x="${f1(x + (barW - 4) / 2)}" y="${f1(y(b.value) - 4 - (b.se !== null ? (y(b.value) - y(b.value + 1.96 * b.se)) : 0))}" text-anchor="middle" font-size="9">${b.value.toFixed(1)}</text>`;
    });
    body += wrapLabel(g.name, gx + (n * barW) / 2, top + plotH + 18);
  });
  body += legend(results.entries.map((e) => e.label), left + groups.length * groupW + 20, top);
  return { id: "win-rates", title: "Win rates", width, height, svg: `${svgOpen(width, height, "win rate bars")}${body}</svg>` };
}

function wrapLabel(text: string, x: number, y: number): string {
  const words = text.split(" ");
  const half = Math.ceil(words.length / 2);
  const lines = words.length > 2 ? [words.slice(0, half).join(" "), words.slice(half).join(" ")] : [text];
  return lines.map((l, i) => `<text x="${f1(x)}" y="${y + i * 14}" text-anchor="middle">${escapeXml(l)}</text>`).join("");
}

/** Headline metrics side by side across entries (base vs SFT vs DPO), each panel on its own scale, with change from the first entry. */
export function versionComparisonChart(results: EvalResults): Chart | null {
  const panels: { name: string; max: number; values: (number | null)[] }[] = [];
  const add = (name: string, max: number, pick: (e: EvalResults["entries"][number]) => number | null | undefined): void => {
    const values = results.entries.map((e) => pick(e) ?? null);
    if (values.some((v) => v !== null)) panels.push({ name, max, values });
  };
  add("MT-Bench (1-10)", 10, (e) => e.mtBench?.overall);
  add("AlpacaEval 1.0 win %", 100, (e) => e.alpacaEval.v1?.scores.winRate);
  add("AlpacaEval 2.0 LC win %", 100, (e) => e.alpacaEval.v2?.scores.lengthControlled?.winRate);
  add("AlpacaEval 2.0 length-adj. win % (no difficulty, not LC)", 100, (e) => e.alpacaEval.v2?.scores.lengthAdjustedNoDifficulty?.winRate);
  add("AlpacaEval 2.0 win %", 100, (e) => e.alpacaEval.v2?.scores.winRate);
  if (!panels.length) return null;
  const n = results.entries.length;
  const panelW = Math.max(170, n * 44 + 40);
  const plotH = 220;
  const top = 80;
  const width = panels.length * panelW + 20;
  const height = top + plotH + 50;
  let body = `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">Comparison across versions</text>`;
  panels.forEach((p, pi) => {
    const x0 = 10 + pi * panelW;
    const y = (v: number): number => top + plotH - (plotH * Math.max(0, Math.min(p.max, v))) / p.max;
    body += `<g class="panel"><text x="${x0 + panelW / 2}" y="${top - 34}" text-anchor="middle" font-weight="bold">${escapeXml(p.name)}</text>`;
    body += `<line x1="${x0 + 10}" x2="${x0 + panelW - 10}" y1="${y(0)}" y2="${y(0)}" stroke="#333333"/>`;
    const bw = (panelW - 40) / n;
    const first = p.values[0] ?? null;
    p.values.forEach((v, i) => {
      const bx = x0 + 20 + i * bw;
      body += `<text x="${f1(bx + bw / 2)}" y="${y(0) + 16}" text-anchor="middle" font-size="11">${escapeXml(results.entries[i]!.label)}</text>`;
      if (v === null) return;
      body += `<rect class="bar" data-label="${escapeXml(results.entries[i]!.label)}" x="${f1(bx + 4)}" y="${f1(y(v))}" width="${f1(bw - 8)}" height="${f1(y(0) - y(v))}" fill="${colorFor(i)}"/>`;
      const digits = p.max === 10 ? 2 : 1;
      body += `<text x="${f1(bx + bw / 2)}" y="${f1(y(v) - 5)}" text-anchor="middle" font-size="10">${v.toFixed(digits)}</text>`;
      // Change from the first entry (the base model), on its own line so narrow bars stay readable.
      if (i > 0 && first !== null) {
        const d = v - first;
        body += `<text class="delta" x="${f1(bx + bw / 2)}" y="${f1(y(v) - 17)}" text-anchor="middle" font-size="9" fill="${d >= 0 ? "#2e7d32" : "#c62828"}">${d >= 0 ? "+" : ""}${d.toFixed(digits)}</text>`;
      }
    });
    body += `</g>`;
  });
  return { id: "version-comparison", title: "Comparison across versions", width, height, svg: `${svgOpen(width, height, "version comparison")}${body}</svg>` };
}

/** Every chart the results support, in report order. */
export function buildCharts(results: EvalResults): Chart[] {
  return [mtBenchRadarChart(results), winRateChart(results), versionComparisonChart(results)].filter((c): c is Chart => c !== null);
}
