// cli — `mambalign report RUN`: a short real run (tiny Mamba on CPU: SFT -> merge -> DPO -> eval with MT-Bench and
// AlpacaEval 2.0 against the local deterministic judge) through the embedded control plane, then the report's page
// and PNGs, again after the EVENTS stream is purged (the history comes back from the pipeline's store).
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { EVENTS_STREAM, RunStatus } from "@mambalign/core";
import { startLocalJudgeServer, type LocalJudgeServer } from "@mambalign/evaluator/testing";
import { PNG } from "pngjs";
import { runReportCharts } from "./run-report.js";
import type { RunReportData } from "./run-report-data.js";
import { startTestSystem, type TestSystem } from "../test-support/embedded-system.js";
import { writeTinyRun } from "../test-support/tiny-run.js";

/** Chart ids the page must show for this run: curves per training stage, DPO rewards, the evaluation's three. */
const CHARTS = ["sft-training", "dpo-training", "dpo-rewards", "mt-bench-radar", "win-rates", "version-comparison"];

describe("mambalign report", () => {
  let judge: LocalJudgeServer;
  let sys: TestSystem;
  before(async () => {
    judge = await startLocalJudgeServer();
    sys = await startTestSystem({ ...process.env, MAMBALIGN_JUDGE_BASE_URL: judge.baseUrl, MAMBALIGN_JUDGE_MODEL: "judge-1", MAMBALIGN_ALPACA_EVAL_LC_DATASET: "off", LOG_LEVEL: "silent" });
  });
  after(async () => {
    await sys?.stop();
    await judge?.close();
  });

  test("writes one offline page with every chart and decodable PNGs, from the API alone, also after the EVENTS stream is purged", { timeout: 15 * 60_000 }, async () => {
    const dir = path.join(sys.stateDir, "work");
    await mkdir(dir);
    await writeTinyRun(dir, "report");
    const ran = await sys.cli(["-o", "json", "run", "--watch", "recipe.yaml"], dir);
    const runId = (JSON.parse(ran.out.split("\n")[0]!) as { id: string }).id;
    const final = JSON.parse(ran.out.trim().split("\n").filter((l) => l.includes('"run"')).at(-1)!) as { run: { status: string; message?: string } };
    assert.equal(final.run.status, RunStatus[RunStatus.RUN_STATUS_SUCCEEDED], `${final.run.message} ${ran.err}`);

    const report = async (out: string) => {
      const res = await sys.cli(["report", runId, "--out", out], dir);
      assert.equal(res.code, 0, res.err);
      return readFile(path.join(dir, out, "report.html"), "utf8");
    };
    const html = await report("first");
    assert.ok(!/<script|<link|src=|href=|@import|url\(/i.test(html), "static and offline: nothing scripted or fetched");
    for (const id of CHARTS) {
      assert.ok(html.includes(`id="chart-${id}"`), `chart ${id}`);
      const png = PNG.sync.read(await readFile(path.join(dir, "first", `${id}.png`)));
      assert.ok(png.width > 200 && png.height > 150, `${id}.png is ${png.width}x${png.height}`);
    }
    for (const name of ["loss", "learning rate", "grad norm", "tokens/s", "reward (chosen)", "reward (rejected)", "reward margin", "reward accuracy"]) {
      assert.ok(html.includes(`>${name}<`), `panel ${name}`);
    }
    assert.ok(html.includes('<table id="metrics">'), "the evaluation's metrics, base vs SFT vs DPO");
    // The lineage: the DPO adapter, the merged SFT model, the SFT adapter, the base model.
    assert.match(html, /report-dpo\/v1 &lt;- report-sft-merged\/v1 &lt;- report-sft\/v1 &lt;- preset:tiny-mamba-char/);

    // History that lasts: with the stream purged the same curves come back (WatchRun replays the stored history).
    const deps = sys.system.deps;
    const deadline = Date.now() + 10_000;
    const historyEnded = async () => {
      for await (const o of deps.store.list(`runs/${runId}/events/`)) if (o.key.endsWith("/run.jsonl")) return true;
      return false;
    };
    // The history consumer runs beside the one that ended the run: wait (bounded) until it has filed the end.
    while (!(await historyEnded()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // The services' NATS users may not purge a stream: the test's unrestricted one does.
    await sys.system.inspector!.jsm.streams.purge(EVENTS_STREAM);
    const again = await report("after-purge");
    const figures = (h: string) => h.match(/<figure[\s\S]*?<\/figure>/g);
    assert.deepEqual(figures(again), figures(html));

    // An unknown run is named, and nothing is written.
    const unknown = await sys.cli(["report", "no-such-run", "--out", "unknown"], dir);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.err, /no-such-run/);
    await assert.rejects(readFile(path.join(dir, "unknown", "report.html")), /ENOENT/);
  });
});

describe("report charts — what the events carry", () => {
  const run = {} as RunReportData["run"];
  const step = (stage: string, n: number, extra: Record<string, number> = {}) => ({
    stage,
    step: n,
    values: { "train/loss": 1 / n, "train/learning_rate": 1e-5, "train/grad_norm": 0.5, "train/tokens_per_s": 900, ...extra },
  });
  const panels = (data: RunReportData, id: string) => {
    const spec = runReportCharts(data).find((c) => c.id === id)?.spec as { data: { values: { metric: string }[] } } | undefined;
    return spec && [...new Set(spec.data.values.map((v) => v.metric))];
  };

  test("a DPO stage whose steps carry KL gets a KL panel beside its rewards; SFT gets curves and no rewards", () => {
    const rewards = { "rewards/chosen": 0.1, "rewards/rejected": -0.1, "rewards/margins": 0.2, "rewards/accuracies": 0.75, kl: 0.01 };
    const data: RunReportData = { run, evalResults: undefined, lineage: [], steps: [step("sft", 1), step("sft", 2), step("dpo", 1, rewards), step("dpo", 2, rewards)] };
    assert.deepEqual(runReportCharts(data).map((c) => c.id), ["sft-training", "dpo-training", "dpo-rewards"]);
    assert.deepEqual(panels(data, "sft-training"), ["loss", "learning rate", "grad norm", "tokens/s"]);
    assert.deepEqual(panels(data, "dpo-rewards"), ["reward (chosen)", "reward (rejected)", "reward margin", "reward accuracy", "KL"]);
  });

  test("without KL in the events there is no KL panel", () => {
    const data: RunReportData = { run, evalResults: undefined, lineage: [], steps: [step("dpo", 1, { "rewards/chosen": 0.1, "rewards/margins": 0.2 })] };
    assert.deepEqual(panels(data, "dpo-rewards"), ["reward (chosen)", "reward margin"]);
  });
});
