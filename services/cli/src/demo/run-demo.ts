// `mambalign demo`: the whole system in this process, the synthetic task's data, the demo recipe
// through the real API, live progress of every stage, then the before/after table and the registry.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { type AdapterVersion, createLogger, type Run, RunStatus } from "@mambalign/core";
import { pino } from "pino";
import { listVersions } from "../commands/adapters.js";
import { submitRun } from "../commands/runs.js";
import { versionsTable } from "../adapters-format.js";
import { CliError } from "../cli-io.js";
import { pipelineClient, useCliSecurity } from "../clients.js";
import { startEmbedded } from "../embedded/embedded-system.js";
import { runPythonRuntime } from "../python-runtime.js";
import { runDetails } from "../run-format.js";
import { formatDuration, showRunProgress } from "../run-progress.js";
import { type DemoRow, demoRows, demoTable } from "./demo-results.js";
import { demoRecipeYaml } from "./demo-recipe.js";

export interface DemoOptions {
  /** State of the embedded system (objects, NATS, work dirs); default ./.mambalign. */
  stateDir: string;
  out: Writable;
  /** Progress bars (default: when `out` is a TTY). */
  tty?: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export interface DemoResult {
  run: Run;
  rows: DemoRow[];
  versions: AdapterVersion[];
  wallS: number;
  logFile: string;
}

/** Writes the synthetic task with the runtime (`python -m mambalign_runtime demo-data --out DIR`). */
async function writeDemoData(python: string, dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  await mkdir(dir, { recursive: true });
  await runPythonRuntime(python, ["demo-data", "--out", dir], env);
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  // Threads per runtime process: the runtime's own default (one, unless OMP_NUM_THREADS says otherwise), as under `up`.
  const env = { ...(opts.env ?? process.env) };
  const stateDir = path.resolve(opts.stateDir);
  const demoDir = path.join(stateDir, "demo");
  await mkdir(demoDir, { recursive: true });
  const logFile = path.join(demoDir, "mambalign.log");
  const say = (line: string) => opts.out.write(`${line}\n`);
  const logger = createLogger("mambalign", env.LOG_LEVEL ?? "info", pino.destination({ dest: logFile, sync: false, mkdir: true }));

  say(`starting mambalign (all services in this process; state in ${stateDir}, logs in ${logFile})`);
  const system = await startEmbedded({ stateDir, grpcPort: 0, metricsPort: 0, host: "127.0.0.1", logger, env });
  // The demo's clients talk to its own system, with the local token it may just have made.
  useCliSecurity(system.clientSecurity);
  try {
    const python = system.deps.config.python;
    say(`API on ${system.addr}; generating the demo data with ${python} -m mambalign_runtime demo-data`);
    await writeDemoData(python, path.join(demoDir, "data"), env);
    const recipeFile = path.join(demoDir, "demo.yaml");
    await writeFile(recipeFile, demoRecipeYaml("./data"));
    const io = { out: opts.out, err: opts.out, env, cwd: demoDir };
    const run = await submitRun(io, system.addr, recipeFile, `demo-${Date.now()}`);
    say(`run ${run.id}: sft -> merge -> dpo -> eval (recipe ${recipeFile})\n`);

    const client = pipelineClient(system.addr);
    let last: Run | undefined;
    try {
      last = await showRunProgress(client, run.id, { out: opts.out, ...(opts.tty === undefined ? {} : { tty: opts.tty }), ...(opts.signal ? { signal: opts.signal } : {}) });
    } finally {
      client.close();
    }
    if (opts.signal?.aborted) throw new CliError(`interrupted: run ${run.id} stays in ${stateDir}; \`mambalign up --state-dir ${opts.stateDir}\` resumes it`, 130);
    if (!last) throw new CliError(`run ${run.id}: the progress stream ended without a result`);
    say("");
    if (last.status !== RunStatus.RUN_STATUS_SUCCEEDED) {
      say(runDetails(last));
      throw new CliError(`run ${run.id} did not succeed: ${last.message} (logs: ${logFile})`);
    }
    const rows = demoRows(last);
    say("Held-out results (exact match on unseen words; preference accuracy on held-out pairs):");
    say(demoTable(rows));
    const versions = await listVersions(system.addr);
    say("\n$ mambalign adapters list");
    say(versionsTable(versions));
    const wallS = (performance.now() - started) / 1000;
    say(`\ndemo finished in ${formatDuration(wallS)}`);
    return { run: last, rows, versions, wallS, logFile };
  } finally {
    await system.stop();
    logger.flush();
  }
}
