// One eval job: stage the model, judge-free metrics, judged benchmarks, results + report in the store,
// the evaluation in KV and on the registry version, and the stage transition for the run.
import { access, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  callUnary,
  EvalArgs,
  type Evaluation,
  type JobHandler,
  joinKey,
  type LocalRoots,
  ModelStager,
  type ProtoKv,
  type RegistryServiceClient,
  type ServiceDeps,
  Stage,
  type StageContext,
  type StageEvents,
  type StageJob,
  stageJobHandler,
} from "@mambalign/core";
import { LC_DATA_PREFIX, loadLcReference } from "./alpaca-eval-lc-data.js";
import { type AlpacaEvalRunResult, BENCHMARKS, type Benchmark, type BenchRun, type GenerationRecord, type MtBenchRunResult, runAlpacaEval, runMtBench } from "./benchmarks.js";
import { InvalidEvalJobError } from "./errors.js";
import type { EvaluatorOptions } from "./evaluator-options.js";
import { datasetIds, exactMatchItems, type HeldOutSet, isExactMatch, stageHeldOut } from "./heldout-data.js";
import {
  ALPACA_EVAL_V1,
  ALPACA_EVAL_V2,
  EVAL_RESULTS_SCHEMA_ID,
  type EvalEntry,
  flattenEvalMetrics,
  JudgeClient,
  LENGTH_ADJUSTED_METRIC,
  parseEvalResults,
  writeEvalReport,
} from "./judging/index.js";
import { lineageEntries } from "./lineage-comparison.js";
import { ModelRunner } from "./model-runner.js";
import { stageLabel, stageModel } from "./model-staging.js";
import { JUDGE_CACHE_PREFIX, ObjectStoreJudgeCache } from "./object-store-judge-cache.js";

const REGISTRY_DEADLINE_MS = 30_000;

/** FastChat's default MT-Bench judge. */
export const MT_BENCH_DEFAULT_JUDGE = "gpt-4";

export interface EvalJobDeps {
  deps: ServiceDeps;
  options: EvaluatorOptions;
  registry: RegistryServiceClient;
  evals: ProtoKv<Evaluation>;
}

const EVAL_ID_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** The eval id is the job id ("<run>.<stage>.<attempt>"): a redelivered job finds its own evaluation. */
export function evalIdOf(job: StageJob): string {
  const id = job.jobId;
  if (!EVAL_ID_RE.test(id) || id.length > 200 || `evals/${id}` === JUDGE_CACHE_PREFIX || `evals/${id}` === LC_DATA_PREFIX) {
    throw new InvalidEvalJobError("jobId", `${JSON.stringify(id)} cannot name an evaluation (use A-Z a-z 0-9 _ - and single dots)`);
  }
  return id;
}

export function evalPrefix(evalId: string): string {
  return joinKey("evals", evalId);
}

/** Eval jobs on core's stage lifecycle: the evaluation is the job's result, recorded once by its id. */
export function createEvalJobHandler(d: EvalJobDeps): JobHandler {
  const { deps, options } = d;
  const jobs = deps.metrics.counter("mambalign_eval_jobs_total", "Eval jobs finished, by outcome", ["service", "outcome"]);
  const generated = deps.metrics.counter("mambalign_eval_generations_total", "Answers generated for evaluation, by benchmark", [
    "service",
    "benchmark",
  ]);
  const seconds = deps.metrics.histogram("mambalign_eval_job_seconds", "Wall time of eval jobs", ["service"], [10, 60, 300, 1800, 7200]);
  const service = "evaluator";
  const handle = stageJobHandler(
    { bus: deps.bus, logger: deps.logger, python: deps.config.python, maxDeliver: options.maxDeliver, defaultStage: Stage.STAGE_EVAL },
    {
      validate: (job) => void evalIdOf(job),
      async finished(ctx) {
        // Redelivered after the evaluation was recorded: only the transition may have been lost.
        const done = await d.evals.get(evalIdOf(ctx.job));
        return done ? { message: summary(done.value.metrics), output: done.value.id, metrics: done.value.metrics } : undefined;
      },
      running: ({ job }) => `evaluating ${job.inputVersion || job.baseModel?.uri || "?"}`,
      async run(ctx) {
        const evaluation = await runEval(d, ctx, evalIdOf(ctx.job), (b, n) => generated.inc({ service, benchmark: b }, n));
        return { message: summary(evaluation.metrics), output: evaluation.id, metrics: evaluation.metrics };
      },
      outcome: (outcome) => jobs.inc({ service, outcome }),
    },
  );
  return async (job, ctl) => {
    const started = performance.now();
    try {
      await handle(job, ctl);
    } finally {
      seconds.observe({ service }, (performance.now() - started) / 1000);
    }
  };
}

interface Plan {
  args: EvalArgs;
  benchmarks: Benchmark[];
  benchDataDir: string;
}

/** Everything checkable before staging a model: a bad job fails in milliseconds, not after generation. */
async function plan(job: StageJob, options: EvaluatorOptions, dataRoots: LocalRoots, events: StageEvents): Promise<Plan> {
  if (job.stage !== Stage.STAGE_EVAL && job.stage !== Stage.STAGE_UNSPECIFIED) {
    throw new InvalidEvalJobError("stage", `the evaluator runs EVAL jobs, got ${Stage[job.stage] ?? job.stage}`);
  }
  const args = job.eval ?? EvalArgs.fromPartial({});
  const benchmarks = args.benchmarks.map((b, i) => {
    if (!(BENCHMARKS as readonly string[]).includes(b)) {
      throw new InvalidEvalJobError(`eval.benchmarks[${i}]`, `unknown benchmark ${JSON.stringify(b)}; known: ${BENCHMARKS.join(", ")}`);
    }
    return b as Benchmark;
  });
  const nothing = !job.evalDataset.trim() && !job.prefsDataset.trim() && !args.exactMatchDataset && benchmarks.length === 0;
  if (nothing) {
    throw new InvalidEvalJobError("evalDataset", "nothing to evaluate: set evalDataset, prefsDataset, eval.exactMatchDataset or eval.benchmarks");
  }
  // A recipe's folder is the caller's input: confined to the data roots like any local path it names.
  const benchDataDir = args.benchDataDir ? await dataRoots.existing(args.benchDataDir, "eval.benchDataDir") : options.benchDataDir;
  if (benchmarks.length && !options.judge) {
    await events.line("warn", `benchmarks ${benchmarks.join(", ")} skipped: no judge configured (set MAMBALIGN_JUDGE_BASE_URL / MAMBALIGN_JUDGE_API_KEY)`);
    return { args, benchmarks: [], benchDataDir };
  }
  if (benchmarks.length) {
    if (!benchDataDir) throw new InvalidEvalJobError("eval.benchDataDir", "benchmarks need question files: set eval.benchDataDir or MAMBALIGN_BENCH_DATA_DIR");
    await access(benchDataDir).catch((cause: unknown) => {
      throw new InvalidEvalJobError("eval.benchDataDir", `cannot read ${benchDataDir}: ${(cause as Error).message}`, { cause });
    });
  }
  return { args, benchmarks, benchDataDir };
}

async function runEval(d: EvalJobDeps, ctx: StageContext, evalId: string, countGenerated: (benchmark: string, n: number) => void): Promise<Evaluation> {
  const { deps, options } = d;
  const { job, events, log: logger } = ctx;
  const p = await plan(job, options, deps.config.dataRoots, events);
  const root = join(deps.config.workDir, "evaluator");
  const workDir = join(root, "jobs", evalId.replace(/\./g, "_"));
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  try {
    await events.line("info", "staging the model");
    const staged = await stageModel(job, new ModelStager(deps.store, deps.config.dataRoots, join(root, "models")));
    const runner = new ModelRunner({ staged, workDir: join(workDir, "runtime"), env: options.runtimeEnv, run: ctx.runRuntime });
    const batchSize = p.args.batchSize || 8;
    const generations: GenerationRecord[] = [];
    const metrics = finiteMetrics(await judgeFreeMetrics({ d, job, args: p.args, runner, workDir, batchSize, events, generations }), logger);
    countGenerated("exact_match", generations.length);

    let mt: MtBenchRunResult | undefined;
    let alpaca: AlpacaEvalRunResult | undefined;
    if (p.benchmarks.length) {
      const judges = new Map<string, JudgeClient>();
      const judgeFor = (defaultModel: string): JudgeClient => {
        const model = p.args.judgeModel || options.judge!.model || defaultModel;
        let c = judges.get(model);
        if (!c) {
          c = new JudgeClient({ ...options.judge!, model, cache: new ObjectStoreJudgeCache(deps.store), logger, signal: ctx.signal });
          judges.set(model, c);
        }
        return c;
      };
      const bench: BenchRun = {
        runner,
        dataDir: p.benchDataDir,
        limit: p.args.limit,
        maxNewTokensCap: p.args.benchMaxNewTokens,
        batchSize,
        seed: 0,
        modelName: staged.name,
        log: (m) => events.line("info", m),
      };
      if (p.benchmarks.includes("mt_bench")) {
        mt = await runMtBench(bench, judgeFor(MT_BENCH_DEFAULT_JUDGE));
        generations.push(...mt.generations);
        countGenerated("mt_bench", mt.generations.length);
      }
      const versions = {
        ...(p.benchmarks.includes("alpaca_eval_v1") ? { v1: judgeFor(ALPACA_EVAL_V1.defaultJudgeModel) } : {}),
        ...(p.benchmarks.includes("alpaca_eval_v2") ? { v2: judgeFor(ALPACA_EVAL_V2.defaultJudgeModel) } : {}),
      };
      if (Object.keys(versions).length) {
        alpaca = await runAlpacaEval(bench, versions, (instructions) => loadLcReference(deps.store, options.alpacaEvalLc, instructions));
        generations.push(...alpaca.generations);
        countGenerated("alpaca_eval", alpaca.generations.length);
      }
      for (const c of judges.values()) {
        const s = c.stats();
        await events.line("info", `judge ${c.model}: ${s.calls} call(s), ${s.cacheHits} from the cache, ${s.retries} retried`);
      }
    }

    const label = stageLabel(staged.version);
    const own: EvalEntry = {
      label,
      ...(staged.version ? { versionId: staged.version.id } : {}),
      metrics,
      ...(mt ? { mtBench: mt.scores } : {}),
      alpacaEval: alpaca?.results ?? {},
    };
    const earlier = await lineageEntries({ evals: d.evals, store: deps.store, staged, runId: job.runId, ownLabel: label, logger });
    const createdAt = new Date();
    const results = parseEvalResults({
      schema: EVAL_RESULTS_SCHEMA_ID,
      createdAt: createdAt.toISOString(),
      title: `mambalign evaluation of ${staged.name}`,
      entries: [...earlier, own],
    });
    const flat = flattenEvalMetrics(results.entries.at(-1)!);
    if (flat["mt_bench/overall"] !== undefined) flat["mt_bench/score"] = flat["mt_bench/overall"];

    const outDir = join(workDir, "out");
    await writeOutputs({ outDir, results, generations, mt, alpaca });
    const prefix = evalPrefix(evalId);
    for (const name of (await readdir(outDir)).sort()) {
      await deps.store.putFile(joinKey(prefix, name), join(outDir, name), { contentType: contentType(name) });
    }
    const evaluation: Evaluation = {
      id: evalId,
      versionId: staged.version?.id ?? "",
      runId: job.runId,
      metrics: flat,
      resultsKey: joinKey(prefix, "results.json"),
      createdAt,
    };
    // A cancelled run records nothing.
    ctx.throwIfCancelled();
    if (staged.version) {
      // Before the KV record: a crash in between redoes the attach (the registry keys it by eval id).
      const result = { evalId, metrics: flat, reportKey: joinKey(prefix, "report.html"), createdAt };
      await callUnary(d.registry.attachEval.bind(d.registry), { versionId: staged.version.id, result }, { deadlineMs: REGISTRY_DEADLINE_MS });
    }
    await d.evals.put(evalId, evaluation);
    return evaluation;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Exact-match via `generate`, preference accuracy and perplexity via `score`, on the held-out sets. */
async function judgeFreeMetrics(o: {
  d: EvalJobDeps;
  job: StageJob;
  args: EvalArgs;
  runner: ModelRunner;
  workDir: string;
  batchSize: number;
  events: StageEvents;
  generations: GenerationRecord[];
}): Promise<Record<string, number>> {
  const { d, job, args, workDir } = o;
  const stage = (source: string, field: string, uri: boolean) =>
    stageHeldOut({ store: d.deps.store, source, uri, field, dir: workDir, limit: args.limit });
  const sets: HeldOutSet[] = [];
  for (const id of datasetIds(job.evalDataset)) sets.push(await stage(id, "evalDataset", false));
  for (const id of datasetIds(job.prefsDataset)) sets.push(await stage(id, "prefsDataset", false));
  const sft = sets.filter((s) => s.kind === "sft");
  const prefs = sets.filter((s) => s.kind === "prefs");
  let exact = sft;
  if (args.exactMatchDataset) {
    const set = await stage(args.exactMatchDataset, "eval.exactMatchDataset", true);
    if (set.kind !== "sft") throw new InvalidEvalJobError("eval.exactMatchDataset", "needs rows with messages ending in the answer");
    exact = [set];
  }
  const metrics: Record<string, number> = {};
  const items = exact.flatMap((s) => exactMatchItems(s));
  // Ids unique across sets.
  items.forEach((it, i) => (it.prompt.id = `em-${i + 1}`));
  if (items.length) {
    await o.events.line("info", `exact-match: generating ${items.length} answer(s)`);
    const out = await o.runner.generate(
      "exact_match",
      items.map((it) => it.prompt),
      { temperature: 0, maxNewTokens: args.maxNewTokens, batchSize: o.batchSize, seed: 0 },
    );
    let correct = 0;
    for (const it of items) {
      const g = out.get(it.prompt.id)!;
      const ok = isExactMatch(g.output, it.answer);
      if (ok) correct++;
      o.generations.push({ benchmark: "exact_match", id: it.prompt.id, messages: it.prompt.messages, answer: it.answer, output: g.output, tokens: g.tokens, correct: ok });
    }
    metrics["eval/exact_match"] = correct / items.length;
    metrics["eval/exact_match_rows"] = items.length;
  }
  if (sft.length || prefs.length) {
    await o.events.line("info", `scoring ${prefs.length ? "preference accuracy" : ""}${prefs.length && sft.length ? " and " : ""}${sft.length ? "perplexity" : ""}`);
    const files = { prefsFile: await concat(prefs, workDir, "prefs"), sftFile: await concat(sft, workDir, "sft") };
    Object.assign(metrics, await o.runner.score("score", files, o.batchSize));
  }
  return metrics;
}

/** One local file for the sets of one kind ("" when there are none). */
async function concat(sets: HeldOutSet[], dir: string, name: string): Promise<string> {
  if (sets.length === 0) return "";
  if (sets.length === 1) return sets[0]!.file;
  const file = join(dir, `heldout-${name}-all.jsonl`);
  await writeFile(file, sets.flatMap((s) => s.rows.map((r) => JSON.stringify(r))).join("\n") + "\n");
  return file;
}

async function writeOutputs(o: {
  outDir: string;
  results: ReturnType<typeof parseEvalResults>;
  generations: GenerationRecord[];
  mt: MtBenchRunResult | undefined;
  alpaca: AlpacaEvalRunResult | undefined;
}): Promise<void> {
  const { outDir } = o;
  await mkdir(outDir, { recursive: true });
  const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : "");
  await writeFile(join(outDir, "generations.jsonl"), jsonl(o.generations));
  await writeFile(join(outDir, "results.json"), JSON.stringify(o.results, null, 2) + "\n");
  if (o.mt) await writeFile(join(outDir, "mt_bench_judgments.jsonl"), jsonl(o.mt.judgments));
  for (const [v, rows] of Object.entries(o.alpaca?.annotations ?? {})) {
    // AlpacaEval's annotations format, so `mambalign eval alpaca-score` can rescore it.
    await writeFile(join(outDir, `alpaca_eval_${v}_annotations.json`), JSON.stringify(rows, null, 2) + "\n");
  }
  await writeEvalReport(o.results, outDir);
}

/** Results, KV and the registry hold finite numbers only: an overflowing perplexity is logged and left out. */
function finiteMetrics(metrics: Record<string, number>, logger: EvalJobDeps["deps"]["logger"]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics)) {
    if (Number.isFinite(v)) out[k] = v;
    else logger.warn({ metric: k, value: String(v) }, "metric is not finite; left out of the registry and KV record");
  }
  return out;
}

function contentType(name: string): string {
  if (name.endsWith(".html")) return "text/html; charset=utf-8";
  if (name.endsWith(".png")) return "image/png";
  if (name.endsWith(".json")) return "application/json";
  return "application/x-ndjson";
}

// Either AlpacaEval's LC or, without its data, the differently named length adjustment (never both).
const HEADLINE = ["eval/exact_match", "eval/preference_accuracy", "eval/perplexity", "mt_bench/score", "alpaca_eval_v1/win_rate", "alpaca_eval_v2/lc_win_rate", `alpaca_eval_v2/${LENGTH_ADJUSTED_METRIC}`];

function summary(metrics: Record<string, number>): string {
  const parts = HEADLINE.filter((k) => metrics[k] !== undefined).map((k) => `${k} ${Number(metrics[k]!.toFixed(4))}`);
  return parts.length ? parts.join(", ") : "evaluated";
}

