import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { chartSvg } from "@mambalign/core/charts";
import {
  buildCharts,
  EVAL_RESULTS_SCHEMA_ID,
  flattenEvalMetrics,
  parseEvalResults,
  renderEvalReportHtml,
  scoreAlpacaEval,
  scoreMtBench,
  writeEvalReport,
  type EvalResultsInput,
  type MtBenchJudgmentRow,
} from "./index.js";

const CATEGORIES = ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"];

/** Scores for one version from recorded-style judgments and annotations, so the report shows real scorer output. */
function entry(label: string, level: number) {
  const categories = new Map<number, string>();
  const judgments: MtBenchJudgmentRow[] = [];
  CATEGORIES.forEach((c, ci) => {
    for (let k = 0; k < 10; k++) {
      const qid = 81 + ci * 10 + k;
      categories.set(qid, c);
      for (const turn of [1, 2]) {
        const score = k === 9 && turn === 2 ? -1 : Math.max(1, Math.min(10, Math.round(level + ((ci * 7 + k) % 5) - 2 - (turn - 1))));
        judgments.push({ question_id: qid, model: label, judge: ["gpt-4", "single-v1"], score, turn, judge_snapshot: "gpt-4-0613" });
      }
    }
  });
  const annotations = (wins: number, generator_1: string) =>
    Array.from({ length: 120 }, (_, i) => ({
      instruction: `instruction ${i}`,
      output_1: "b".repeat(100 + (i % 7) * 30),
      output_2: "m".repeat(80 + (i % 11) * 25 + level * 10),
      generator_1,
      generator_2: label,
      preference: i % 10 < wins ? 2 : i % 13 === 0 ? 1.5 : 1,
    }));
  return {
    label,
    versionId: `${label}@1`,
    mtBench: scoreMtBench(judgments, categories)[0]!,
    alpacaEval: {
      v1: { scores: scoreAlpacaEval(annotations(level + 1, "text_davinci_003"))[0]!, judgeModel: "gpt-4", judgeSnapshots: ["gpt-4-0613"] },
      v2: { scores: scoreAlpacaEval(annotations(level - 1, "gpt4_1106_preview"))[0]!, judgeModel: "gpt-4-1106-preview", judgeSnapshots: ["gpt-4-1106-preview"] },
    },
    metrics: { "eval/preference_accuracy": 0.5 + level / 20 },
  };
}

const results: EvalResultsInput = {
  schema: EVAL_RESULTS_SCHEMA_ID,
  createdAt: "2026-11-28T00:00:00Z",
  title: "mamba-2.8b: base vs SFT vs DPO <check escaping>",
  entries: [entry("base", 3), entry("sft", 5), entry("dpo", 6)],
};

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "eval-report-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("report — results JSON", () => {
  it("round-trips through the schema and flattens to registry metrics", () => {
    const parsed = parseEvalResults(JSON.parse(JSON.stringify(results)));
    const flat = flattenEvalMetrics(parsed.entries[2]!);
    assert.equal(flat["mt_bench/overall"], parsed.entries[2]!.mtBench!.overall);
    assert.equal(flat["alpaca_eval_v2/length_adjusted_win_rate_no_difficulty"], parsed.entries[2]!.alpacaEval.v2!.scores.lengthAdjustedNoDifficulty!.winRate);
    assert.equal(flat["alpaca_eval_v2/lc_win_rate"], undefined, "no LC without AlpacaEval's difficulty data");
    assert.equal(flat["mt_bench/n_unparsable"], 8);
    assert.equal(flat["eval/preference_accuracy"], 0.8);
    assert.throws(() => parseEvalResults({ ...results, entries: [] }), /entries/);
  });

  it("renders a self-contained page: inline SVG, no scripts, nothing fetched, text escaped", async () => {
    const html = await renderEvalReportHtml(results);
    assert.ok(!/<script|<link|src=|href=|@import|url\(/i.test(html), "no external or scripted resources");
    assert.ok(html.includes("&lt;check escaping&gt;"));
    assert.equal((html.match(/<figure class="chart"/g) ?? []).length, 3);
    // Without AlpacaEval's difficulty data the page shows the adjustment under its own name, never as LC.
    assert.ok(!html.includes("LC win rate"), `no LC chart group: ${/.{200}LC win rate.{100}/s.exec(html)?.[0]}`);
    assert.match(html, /no LC \(AlpacaEval&#39;s instruction difficulty and gamed baselines were not given\); length-adjusted win rate without instruction difficulty [0-9.]+ \(not comparable/);
  });
});

describe("report — rendered in-process (vega SVG, resvg PNG)", () => {
  it("draws the radar, the win-rate bars with error bars and the version comparison", async () => {
    const written = await writeEvalReport(results, dir);
    // The page is static (no scripts): what it holds is what a browser shows.
    const dom = await readFile(written.htmlPath, "utf8");
    for (const id of ["mt-bench-radar", "win-rates", "version-comparison"]) assert.ok(dom.includes(`id="chart-${id}"`), id);
    assert.equal((dom.match(/<g class="mark-line role-mark series"/g) ?? []).length, 3, "one radar line per version");
    assert.ok((dom.match(/aria-roledescription="bar"/g) ?? []).length >= 9 + 12, "win-rate and comparison bars");
    // Error bars: a rule per bar with a standard error (v1 and v2 win rates), and the 50% line.
    assert.ok((dom.match(/aria-roledescription="rule mark"/g) ?? []).length >= 6 + 1);
    assert.ok(dom.includes('<table id="metrics">'));

    const expected: Record<string, [number, number]> = {};
    for (const c of buildCharts(parseEvalResults(results))) {
      const [, w, h] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(await chartSvg(c))!;
      expected[c.id] = [Number(w), Number(h)];
    }
    assert.deepEqual(Object.keys(written.pngs).sort(), Object.keys(expected).sort());
    for (const [id, path] of Object.entries(written.pngs)) {
      const png = PNG.sync.read(await readFile(path));
      assert.deepEqual([png.width, png.height], expected[id], `${id} size`);
      // Count painted pixels and the series colours (#4e79a7, #f28e2b, #59a14f) the chart must show.
      let painted = 0;
      const seen = new Set<string>();
      for (let i = 0; i < png.data.length; i += 4) {
        const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
        if (r < 245 || g < 245 || b < 245) painted++;
        for (const [name, [cr, cg, cb]] of Object.entries({ blue: [0x4e, 0x79, 0xa7], orange: [0xf2, 0x8e, 0x2b], green: [0x59, 0xa1, 0x4f] })) {
          if (Math.abs(r - cr!) < 6 && Math.abs(g - cg!) < 6 && Math.abs(b - cb!) < 6) seen.add(name);
        }
      }
      const share = painted / (png.width * png.height);
      assert.ok(share > 0.02 && share < 0.9, `${id}: ${(share * 100).toFixed(1)}% painted`);
      assert.deepEqual([...seen].sort(), ["blue", "green", "orange"], `${id}: all three versions drawn`);
    }
  });
});
