// The evaluation report's charts as Vega-Lite specs (the radar as Vega: Vega-Lite has no polar line).
import type { ChartSpec } from "@mambalign/core/charts";
import type { EvalResults } from "./results-schema.js";

type Entry = EvalResults["entries"][number];

/** Series colours, one per entry in order (Tableau 10). */
export const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948", "#9c755f"];
// A label's parenthesised tail on a line of its own.
const WRAP = "split(replace(datum.label, ' (', '\\n('), '\\n')";
const colours = (labels: string[]) => ({ domain: labels, range: PALETTE.slice(0, labels.length) });

/** MT-Bench radar: one closed line per entry over the categories, scale 0-10. Null when no entry has categories. */
export function mtBenchRadarChart(results: EvalResults): ChartSpec | null {
  const entries = results.entries.filter((e) => e.mtBench && Object.keys(e.mtBench.perCategory).length);
  if (!entries.length) return null;
  const cats = [...new Set(entries.flatMap((e) => Object.keys(e.mtBench!.perCategory)))];
  const series = entries.map((e) => `${e.label} (${e.mtBench!.overall === null ? "-" : e.mtBench!.overall.toFixed(2)})`);
  const values = entries.flatMap((e, k) => cats.map((key) => ({ series: series[k], key, value: Math.max(0, Math.min(10, e.mtBench!.perCategory[key] ?? 0)) })));
  const rings = [2, 4, 6, 8, 10].flatMap((ring) => cats.map((key) => ({ ring, key })));
  const xy = (r: string, key: string) => ({
    x: { signal: `${r} * cos(scale('angular', ${key}))` },
    y: { signal: `${r} * sin(scale('angular', ${key}))` },
  });
  const point = xy("scale('radial', datum.value)", "datum.key");
  const colour = { scale: "colour", field: "series" };
  const spec = {
    width: 560,
    height: 400,
    padding: 10,
    autosize: "pad",
    title: { text: "MT-Bench score by category", fontSize: 16 },
    signals: [{ name: "radius", value: 160 }],
    data: [
      { name: "table", values },
      { name: "keys", values: cats.map((key) => ({ key })) },
      { name: "rings", values: rings },
    ],
    scales: [
      { name: "angular", type: "point", range: { signal: "[-PI, PI]" }, padding: 0.5, domain: cats },
      { name: "radial", type: "linear", range: { signal: "[0, radius]" }, zero: true, nice: false, domain: [0, 10] },
      { name: "colour", type: "ordinal", domain: series, range: PALETTE.slice(0, series.length) },
    ],
    legends: [{ fill: "colour", orient: "top-left", offset: 0 }],
    marks: [
      {
        type: "group",
        encode: { enter: { x: { value: 330 }, y: { value: 200 } } },
        marks: [
          { type: "group", from: { facet: { data: "rings", name: "ring", groupby: ["ring"] } }, marks: [
            { type: "line", from: { data: "ring" }, encode: { enter: { interpolate: { value: "linear-closed" }, ...xy("scale('radial', datum.ring)", "datum.key"), stroke: { value: "#cccccc" } } } },
          ] },
          { type: "rule", from: { data: "keys" }, encode: { enter: { x: { value: 0 }, y: { value: 0 }, x2: xy("radius", "datum.key").x, y2: xy("radius", "datum.key").y, stroke: { value: "#cccccc" } } } },
          { type: "text", from: { data: "keys" }, encode: { enter: { ...xy("(radius + 8)", "datum.key"), text: { field: "key" }, baseline: { value: "middle" }, fontSize: { value: 12 },
            align: [{ test: "abs(cos(scale('angular', datum.key))) < 0.1", value: "center" }, { test: "cos(scale('angular', datum.key)) < 0", value: "right" }, { value: "left" }] } } },
          { type: "group", from: { facet: { data: "table", name: "one", groupby: ["series"] } }, marks: [
            { type: "line", name: "series", from: { data: "one" }, encode: { enter: { interpolate: { value: "linear-closed" }, ...point, stroke: colour, strokeWidth: { value: 2 }, fill: colour, fillOpacity: { value: 0.15 } } } },
            { type: "symbol", from: { data: "one" }, encode: { enter: { ...point, size: { value: 36 }, fill: colour } } },
          ] },
        ],
      },
    ],
  };
  return { id: "mt-bench-radar", title: "MT-Bench by category", spec: spec as ChartSpec["spec"], vega: true };
}

/** [metric name, value, standard error] per entry; a metric no entry has is left out. */
function winRateGroups(results: EvalResults): { group: string; label: string; value: number; se: number | null }[] {
  const groups: [string, (e: Entry) => { value: number | null | undefined; se: number | null } | undefined][] = [
    ["AlpacaEval 1.0 win rate", (e) => e.alpacaEval.v1 && { value: e.alpacaEval.v1.scores.winRate, se: e.alpacaEval.v1.scores.standardError }],
    ["AlpacaEval 2.0 win rate", (e) => e.alpacaEval.v2 && { value: e.alpacaEval.v2.scores.winRate, se: e.alpacaEval.v2.scores.standardError }],
    ["AlpacaEval 2.0 LC win rate", (e) => e.alpacaEval.v2 && { value: e.alpacaEval.v2.scores.lengthControlled?.winRate, se: null }],
    ["AlpacaEval 2.0 length-adjusted, no difficulty (not LC)", (e) => e.alpacaEval.v2 && { value: e.alpacaEval.v2.scores.lengthAdjustedNoDifficulty?.winRate, se: null }],
  ];
  return groups.flatMap(([group, pick]) =>
    results.entries.flatMap((e) => {
      const p = pick(e);
      return p && typeof p.value === "number" ? [{ group, label: e.label, value: p.value, se: p.se }] : [];
    }),
  );
}

/** Win rates (%) grouped by metric, one bar per entry, error bars at +-1.96 standard errors (95% interval). */
export function winRateChart(results: EvalResults): ChartSpec | null {
  const rows = winRateGroups(results).map((r) => ({
    ...r,
    ...(r.se === null ? {} : { lo: Math.max(0, r.value - 1.96 * r.se), hi: Math.min(100, r.value + 1.96 * r.se) }),
    top: r.se === null ? r.value : Math.min(100, r.value + 1.96 * r.se),
  }));
  if (!rows.length) return null;
  const labels = results.entries.map((e) => e.label);
  const y = { type: "quantitative" as const, scale: { domain: [0, 100] }, title: "win rate against the reference (%)" };
  const grouped = {
    x: { field: "group", type: "nominal", title: null, sort: null, axis: { labelAngle: 0, labelLimit: 400, labelExpr: WRAP } },
    xOffset: { field: "label", sort: labels },
  } as const;
  return {
    id: "win-rates",
    title: "Win rates",
    spec: {
      title: { text: "Win rate against the reference (%)", fontSize: 16 },
      width: new Set(rows.map((r) => r.group)).size * Math.max(190, labels.length * 34 + 40),
      height: 300,
      data: { values: rows },
      layer: [
        {
          mark: { type: "bar" },
          encoding: { ...grouped, y: { field: "value", ...y }, color: { field: "label", type: "nominal", title: null, scale: colours(labels) } },
        },
        { mark: { type: "rule", color: "#222222" }, encoding: { ...grouped, y: { field: "lo", ...y }, y2: { field: "hi" } } },
        { mark: { type: "text", dy: -6, fontSize: 9 }, encoding: { ...grouped, y: { field: "top", ...y }, text: { field: "value", format: ".1f" } } },
        { data: { values: [{ even: 50 }] }, mark: { type: "rule", strokeDash: [4, 3], color: "#999999" }, encoding: { y: { field: "even", ...y } } },
      ],
    },
  };
}

/** Headline metrics side by side across entries (base vs SFT vs DPO), each panel on its own scale, with change from the first entry. */
export function versionComparisonChart(results: EvalResults): ChartSpec | null {
  const metrics: [string, (e: Entry) => number | null | undefined, number][] = [
    ["MT-Bench (1-10)", (e) => e.mtBench?.overall, 2],
    ["AlpacaEval 1.0 win %", (e) => e.alpacaEval.v1?.scores.winRate, 1],
    ["AlpacaEval 2.0 LC win %", (e) => e.alpacaEval.v2?.scores.lengthControlled?.winRate, 1],
    ["AlpacaEval 2.0 length-adj. win % (no difficulty, not LC)", (e) => e.alpacaEval.v2?.scores.lengthAdjustedNoDifficulty?.winRate, 1],
    ["AlpacaEval 2.0 win %", (e) => e.alpacaEval.v2?.scores.winRate, 1],
  ];
  const rows = metrics.flatMap(([panel, pick, digits]) => {
    const first = pick(results.entries[0]!) ?? null;
    return results.entries.flatMap((e, i) => {
      const v = pick(e);
      if (typeof v !== "number") return [];
      // Change from the first entry (the base model), on its own line so narrow bars stay readable.
      const d = i > 0 && first !== null ? v - first : null;
      return [{ panel, label: e.label, value: v, text: v.toFixed(digits), delta: d === null ? "" : `${d >= 0 ? "+" : ""}${d.toFixed(digits)}`, deltaColour: d === null || d >= 0 ? "#2e7d32" : "#c62828" }];
    });
  });
  if (!rows.length) return null;
  const labels = results.entries.map((e) => e.label);
  const panels = [...new Set(rows.map((r) => r.panel))];
  const x = { field: "label", type: "nominal", sort: labels, title: null, axis: { labelAngle: 0 } } as const;
  const y = { field: "value", type: "quantitative", title: null } as const;
  return {
    id: "version-comparison",
    title: "Comparison across versions",
    spec: {
      title: { text: "Comparison across versions", fontSize: 16 },
      data: { values: rows },
      columns: panels.length,
      facet: { field: "panel", type: "nominal", sort: panels, title: null, header: { labelFontWeight: "bold", labelLimit: 260, labelExpr: WRAP } },
      resolve: { scale: { y: "independent" } },
      spec: {
        width: Math.max(130, labels.length * 44),
        height: 220,
        layer: [
          { mark: { type: "bar" }, encoding: { x, y, color: { field: "label", type: "nominal", legend: null, scale: colours(labels) } } },
          { mark: { type: "text", dy: -6, fontSize: 10 }, encoding: { x, y, text: { field: "text" } } },
          {
            mark: { type: "text", dy: -18, fontSize: 9 },
            encoding: { x, y, text: { field: "delta" }, color: { field: "deltaColour", type: "nominal", legend: null, scale: null } },
          },
        ],
      },
    },
  };
}

/** Every chart the results support, in report order. */
export function buildCharts(results: EvalResults): ChartSpec[] {
  return [mtBenchRadarChart(results), winRateChart(results), versionComparisonChart(results)].filter((c): c is ChartSpec => c !== null);
}
