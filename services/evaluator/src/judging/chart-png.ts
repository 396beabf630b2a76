import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { renderEvalReportHtml } from "./html-report.js";
import { parseEvalResults, type EvalResults, type EvalResultsInput } from "./results-schema.js";
import { buildCharts } from "./svg-charts.js";

const execFileAsync = promisify(execFile);

/** Runs Chromium; a missing binary gets an error that says how to install it. */
async function run(bin: string, args: string[], options: { timeout: number; maxBuffer?: number }): Promise<{ stdout: string }> {
  try {
    return await execFileAsync(bin, args, { ...options, encoding: "utf8" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error(`headless Chromium not found at ${bin}: install Debian's chromium (apt-get install chromium) or pass chromiumPath`, { cause: err });
    }
    throw err;
  }
}

export interface ChromiumOptions {
  /** Debian's chromium by default. */
  chromiumPath?: string;
  /** Per-invocation limit. Default 60 s. */
  timeoutMs?: number;
}

// Root in containers needs --no-sandbox; a private profile keeps parallel runs from sharing a lock.
function chromiumArgs(profile: string): string[] {
  return ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-dev-shm-usage", `--user-data-dir=${profile}`];
}

/** Screenshots a local HTML file at the given window size into `pngPath` with headless Chromium. */
export async function screenshotHtml(htmlPath: string, pngPath: string, width: number, height: number, options: ChromiumOptions = {}): Promise<void> {
  const profile = await mkdtemp(join(tmpdir(), "mambalign-chromium-"));
  try {
    await run(
      options.chromiumPath ?? "/usr/bin/chromium",
      [...chromiumArgs(profile), `--window-size=${width},${height}`, `--screenshot=${resolve(pngPath)}`, pathToFileURL(resolve(htmlPath)).href],
      { timeout: options.timeoutMs ?? 60_000 },
    );
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/** The DOM Chromium built from a local HTML file (`--dump-dom`): shows what actually rendered. */
export async function dumpDom(htmlPath: string, options: ChromiumOptions = {}): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), "mambalign-chromium-"));
  try {
    const { stdout } = await run(options.chromiumPath ?? "/usr/bin/chromium", [...chromiumArgs(profile), "--dump-dom", pathToFileURL(resolve(htmlPath)).href], {
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

export interface WrittenReport {
  htmlPath: string;
  /** Chart id -> PNG path. */
  pngs: Record<string, string>;
}

/** Writes `report.html` and one `<chart id>.png` per chart into `outDir`. */
export async function writeEvalReport(input: EvalResultsInput | EvalResults, outDir: string, options: ChromiumOptions = {}): Promise<WrittenReport> {
  const results = parseEvalResults(input);
  await mkdir(outDir, { recursive: true });
  const htmlPath = join(outDir, "report.html");
  await writeFile(htmlPath, renderEvalReportHtml(results));
  const pngs: Record<string, string> = {};
  // One page per chart, sized to it, so each PNG is exactly the chart. Sequential: Chromium is heavy.
  for (const chart of buildCharts(results)) {
    const page = join(outDir, `.${chart.id}.html`);
    await writeFile(page, `<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;padding:0;background:#fff}svg{display:block}</style></head><body>${chart.svg}</body></html>`);
    const png = join(outDir, `${chart.id}.png`);
    try {
      await screenshotHtml(page, png, chart.width, chart.height, options);
    } finally {
      await rm(page, { force: true });
    }
    pngs[chart.id] = png;
  }
  return { htmlPath, pngs };
}
