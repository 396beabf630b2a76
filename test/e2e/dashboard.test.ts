// dashboard — in a real headless browser (Debian's chromium through puppeteer-core) against the embedded control
// plane as `mambalign up` starts it: signing in with a token, a run started by the test appearing in the list, its
// loss curve growing while it trains (more points later than earlier), the queue, the registry's lineage and aliases,
// an evaluation's report; and without a token every data endpoint answers 401. Screenshots go to a temp dir;
// MAMBALIGN_SCREENSHOTS_DIR=docs writes the committed docs/dashboard-*.png (a plain test run leaves the tree clean).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { callUnary, createClient, RegistryServiceClient, RunStatus } from "@mambalign/core";
import { TEST_TOKENS } from "@mambalign/core/testing";
import { type LocalJudgeServer, startLocalJudgeServer } from "@mambalign/evaluator/testing";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { type System, startSystem } from "./harness.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = process.env.MAMBALIGN_SCREENSHOTS_DIR
  ? path.resolve(REPO_ROOT, process.env.MAMBALIGN_SCREENSHOTS_DIR)
  : await fsp.mkdtemp(path.join(tmpdir(), "mambalign-dashboard-shots-"));
/** A viewer's token the system accepts (the API and so the dashboard): the lowest role, enough to see everything. */
const VIEWER_TOKEN = TEST_TOKENS.viewer;

/** The browser scripts/setup.sh installs (Debian's chromium), or CHROMIUM when set. */
function chromiumPath(): string {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("chromium not found: scripts/setup.sh installs Debian's, or set CHROMIUM to a Chrome/Chromium binary");
  }
}

const rows = Array.from({ length: 40 }, (_, i) => ({ messages: [{ role: "user", content: `reverse w${i}x` }, { role: "assistant", content: `x${i}w` }] }));
const recipe = (dir: string, name: string, maxSteps: number, evaluate = false) => `
name: ${name}
model_name_or_path: preset:tiny-mamba-char
stages: [sft${evaluate ? ", eval" : ""}]
datasets:
  chat: ${dir}/sft.jsonl
torch_dtype: float32
use_peft: true
sft: { dataset_mixer: { chat: 1.0 }, max_steps: ${maxSteps}, save_steps: 100000, logging_steps: 1 }
${evaluate ? "eval: { benchmarks: [mt_bench, alpaca_eval_v2], limit: 2, max_new_tokens: 8 }" : ""}
`;

describe("dashboard — a run's page in a real browser", () => {
  let sys: System;
  let judge: LocalJudgeServer;
  let browser: Browser;
  let page: Page;
  let url: string;

  before(async () => {
    judge = await startLocalJudgeServer();
    sys = await startSystem({ MAMBALIGN_JUDGE_BASE_URL: judge.baseUrl, MAMBALIGN_JUDGE_MODEL: "judge-1", MAMBALIGN_ALPACA_EVAL_LC_DATASET: "off" });
    url = sys.system.dashboardUrl;
    await fsp.writeFile(path.join(sys.stateDir, "sft.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
  });
  after(async () => {
    await browser?.close();
    await sys?.stop();
    await judge?.close();
  });

  test("without a token the data endpoints answer 401 and pages the login form", async () => {
    for (const p of ["api/runs", "api/queue", "api/registry", "api/runs/any", "api/runs/any/stream", "evals/any/report"]) {
      const res = await fetch(new URL(p, url));
      assert.equal(res.status, 401, `${p} without a token`);
      await res.body?.cancel();
    }
    const wrong = await fetch(new URL("api/runs", url), { headers: { authorization: "Bearer not-a-token" } });
    assert.equal(wrong.status, 401);
    assert.match(((await wrong.json()) as { error: string }).error, /unknown token/);
    const home = await fetch(url);
    assert.equal(home.status, 401);
    assert.match(await home.text(), /name="token"/);
    const withBearer = await fetch(new URL("api/runs", url), { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    assert.equal(withBearer.status, 200);
  });

  test("signed in with a token, a run started by the test appears and its loss curve grows", { timeout: 300_000 }, async () => {
    // A short run first (it registers an adapter, given an alias, and evaluates it against the local judge), then one
    // that trains until cancelled. One worker takes one job at a time: the long one starts once the short one is done.
    const short = await sys.waitRun((await sys.startRun(recipe(sys.stateDir, "dash-short", 4, true), "dash-short")).id);
    assert.equal(short.status, RunStatus.RUN_STATUS_SUCCEEDED, short.message);
    const version = short.stages[0]!.output;
    const registry = createClient(RegistryServiceClient, sys.system.addr);
    await callUnary(registry.setAlias.bind(registry), { name: "dash-short-sft", alias: "prod", versionId: version });
    registry.close();
    const long = await sys.startRun(recipe(sys.stateDir, "dash-long", 100_000), "dash-long");

    await page.goto(url);
    await page.waitForSelector("#token");
    await page.type("#token", VIEWER_TOKEN);
    await Promise.all([page.waitForNavigation(), page.click("#sign-in")]);
    const cookie = (await browser.cookies()).find((c) => c.name === "mambalign_token");
    assert.ok(cookie, "the login form set the session cookie");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    await page.waitForFunction((id) => [...document.querySelectorAll("#runs a")].some((a) => a.textContent === id), { timeout: 30_000 }, long.id);
    await page.waitForFunction(() => document.querySelector("#runs")?.textContent?.includes("running") ?? false, { timeout: 120_000 });
    await page.screenshot({ path: path.join(SHOTS, "dashboard-runs.png") });

    await Promise.all([page.waitForNavigation(), page.click(`#runs a[href="/runs/${long.id}"]`)]);
    // The loss curve is the first line of the SFT training chart (the loss panel comes first); count its vertices.
    const LOSS_LINE = 'figure[data-chart="sft-training"] g.mark-line path';
    const points = () => page.$eval(LOSS_LINE, (el) => (el.getAttribute("d") ?? "").split(/[ML]/).filter(Boolean).length);
    await page.waitForSelector(LOSS_LINE, { timeout: 180_000 });
    const earlier = await points();
    const earlierSteps = Number(await page.$eval("#charts", (el) => (el as HTMLElement).dataset.steps));
    assert.ok(earlier > 0 && earlierSteps > 0);
    await page.waitForFunction((n) => Number((document.querySelector("#charts") as HTMLElement).dataset.steps) >= n, { timeout: 120_000 }, earlierSteps + 5);
    const later = await points();
    assert.ok(later > earlier, `the curve grew: ${earlier} points earlier, ${later} later`);
    assert.match((await page.$eval("#stages", (el) => el.textContent)) ?? "", /sft.*running/);
    assert.match((await page.$eval("#stream-state", (el) => el.textContent)) ?? "", /^live — sft step \d+, loss \d/);
    await page.screenshot({ path: path.join(SHOTS, "dashboard-run.png"), fullPage: true });

    await page.goto(new URL("queue", url).href);
    await page.waitForFunction((id) => document.querySelector("#running")?.textContent?.includes(id) ?? false, { timeout: 30_000 }, long.id);
    await page.waitForSelector("#workers");
    await page.screenshot({ path: path.join(SHOTS, "dashboard-queue.png") });

    await page.goto(new URL("registry", url).href);
    await page.waitForFunction((id) => document.querySelector("#versions")?.textContent?.includes(id) ?? false, { timeout: 30_000 }, short.id);
    const registryText = (await page.$eval("#versions", (el) => el.textContent)) ?? "";
    assert.ok(registryText.includes(version), `the registry page lists ${version}`);
    assert.match(registryText, /prod/, "with its alias");
    assert.match(registryText, /preset:tiny-mamba-char/, "the lineage goes back to the base model");
    await page.screenshot({ path: path.join(SHOTS, "dashboard-registry.png") });

    // The evaluation's report, reached from the registry: the evaluator's own page (charts and metrics).
    const evalId = short.stages.find((st) => st.output && st.output !== version)!.output;
    await Promise.all([page.waitForNavigation(), page.click(`#versions a[href="/evals/${encodeURIComponent(evalId)}/report"]`)]);
    const charts = await page.$$eval("figure[data-chart] svg", (els) => els.length);
    assert.ok(charts >= 2, `the report draws its charts (${charts})`);
    assert.match((await page.$eval("#metrics", (el) => el.textContent)) ?? "", /mt_bench/);
    await page.screenshot({ path: path.join(SHOTS, "dashboard-eval-report.png"), fullPage: true });

    await callUnary(sys.client.cancelRun.bind(sys.client), { id: long.id });
  });
});
