// The `mambalign` command line (commander). Each action returns an exit code; expected failures
// (CliError, API errors) print one message, never a stack trace.
import { readFileSync } from "node:fs";
import { ApiError, status, toApiError } from "@mambalign/core";
import { cliClientSecurity } from "./client-security.js";
import { useCliSecurity } from "./clients.js";
import { localTokenFile } from "./local-token.js";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { apiAddr, type CliIo, CliError } from "./cli-io.js";
import { adaptersAliasCommand, adaptersListCommand, adaptersShowCommand } from "./commands/adapters.js";
import { adaptersExportCommand } from "./commands/adapters-export.js";
import { datasetsListCommand, datasetsShowCommand } from "./commands/datasets.js";
import { alpacaScoreCommand, mtBenchScoreCommand } from "./commands/eval-score.js";
import { recipeCheckCommand } from "./commands/recipe-check.js";
import { reportCommand } from "./commands/report.js";
import { cancelCommand, followCommand, runCommand, statusCommand } from "./commands/runs.js";
import { bashCompletion, zshCompletion } from "./completion.js";
import { type OutputFormat, outputFormat } from "./output-format.js";
import { tokenNewCommand } from "./commands/token.js";
import { upCommand } from "./commands/up.js";
import { runDemo } from "./demo/run-demo.js";

function portOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("a port number 0-65535 (0 = any free port)");
  return n;
}

/** services/cli/package.json, one level above src/ and dist/. */
export const CLI_VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command("mambalign")
    .description("Align Mamba language models with the Zephyr recipe (SFT -> merge -> DPO -> eval)")
    .version(`mambalign ${CLI_VERSION} (node ${process.versions.node})`, "-V, --version", "print the version and exit")
    .option("--addr <host:port>", "API address for client commands (env MAMBALIGN_ADDR; default 127.0.0.1:50051)")
    .option("--token <token>", "bearer token for the API (env MAMBALIGN_TOKEN; default: the local token `mambalign up` wrote)")
    .option("--ca <file>", "CA certificate (PEM) to verify the API's TLS certificate; implies TLS (env MAMBALIGN_CA)")
    .option("-o, --output <format>", "how commands print data: text, json or yaml (proto3 JSON field names)", outputFormat, "text")
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .exitOverride()
    .showHelpAfterError()
    // Resolved once, before any command: every client of this invocation carries it.
    .hook("preAction", () => useCliSecurity(cliClientSecurity(program.opts<{ token?: string; ca?: string }>(), io)));
  const addr = () => apiAddr(program.opts<{ addr?: string }>().addr, io.env);
  const output = () => program.opts<{ output: OutputFormat }>().output;
  /** `--json` on the commands that had it before -o: the same as -o json. */
  const outputOr = (o: { json?: boolean }): OutputFormat => (o.json ? "json" : output());
  const act =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) =>
      setExit(await fn(...args));

  program
    .command("up")
    .description("run every service in this process on the embedded default (filesystem store, a local NATS server)")
    .option("--port <port>", "gRPC port of the API", portOption, 50051)
    .option("--metrics-port <port>", "HTTP port of /metrics", portOption, 9464)
    .option("--dashboard-port <port>", "HTTP port of the web dashboard", portOption, 8080)
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--state-dir <dir>", "where objects, NATS data and work files live", ".mambalign")
    .action(act((o: { port: number; metricsPort: number; dashboardPort: number; host: string; stateDir: string }) => upCommand(io, { ...o, output: output() })));

  program
    .command("demo")
    .description("the whole pipeline on a synthetic task, on CPU, with no download: prints before/after accuracy and the registry")
    .option("--state-dir <dir>", "where the embedded system keeps its state", ".mambalign")
    .action(
      act(async (o: { stateDir: string }) => {
        // Ctrl-C ends the demo cleanly: services and the NATS server stop, state stays on disk.
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        try {
          await runDemo({ stateDir: o.stateDir, out: io.out, env: io.env, signal: ac.signal });
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
        return 0;
      }),
    );

  program
    .command("run")
    .description("check a recipe here, then start a run of it")
    .argument("<recipe>", "recipe YAML file")
    .option("--request-id <id>", "idempotency key: submitting again with it returns the same run (default: a new UUID)")
    .option("--watch", "follow the run's progress until it ends")
    .action(act((file: string, o: { requestId?: string; watch?: boolean }) => runCommand(io, addr(), file, { ...o, output: output() })));

  program
    .command("status")
    .argument("[run]", "run id")
    .description("list runs, or show one run's stages, outputs and metrics; exit 1 when the run failed or was cancelled")
    .action(act((run: string | undefined) => statusCommand(io, addr(), run, output())));

  program
    .command("cancel")
    .description("cancel a run: its queued and running stages stop and nothing more is registered")
    .argument("<run>", "run id")
    .action(act((run: string) => cancelCommand(io, addr(), run, output())));

  program
    .command("logs")
    .description("show a run's progress: a bar per stage (step/total, loss, tokens/s, ETA); plain lines when not a terminal")
    .argument("<run>", "run id")
    .option("-f, --follow", "stream until the run ends (without it, a run still going is summarised)")
    .action(
      act(async (run: string, o: { follow?: boolean }) => {
        if (!o.follow) {
          const code = await statusCommand(io, addr(), run, output());
          if (output() === "text") io.out.write(`(stream its events with: mambalign logs -f ${run})\n`);
          return code;
        }
        return followCommand(io, addr(), run, { output: output() });
      }),
    );

  program
    .command("report")
    .description("write a run's report: one offline HTML page (training curves, DPO rewards, evaluation, lineage) and a PNG per chart")
    .argument("<run>", "run id")
    .option("--out <dir>", "folder for report.html and the PNGs", "report")
    .action(act((run: string, o: { out: string }) => reportCommand(io, addr(), run, o.out)));

  const adapters = program.command("adapters").description("registry versions and their lineage");
  adapters
    .command("list")
    .description("every version with its lineage (parent chain and base model)")
    .option("--name <name>", "only versions of this name")
    .action(act((o: { name?: string }) => adaptersListCommand(io, addr(), { ...o, output: output() })));
  adapters
    .command("show")
    .argument("<id>", "version id, e.g. demo-dpo/v1")
    .description("one version: lineage, files, metrics, evaluations")
    .action(act((id: string) => adaptersShowCommand(io, addr(), id, output())));
  adapters
    .command("alias")
    .argument("<name>", "registry name")
    .argument("<alias>", "alias, e.g. prod")
    .argument("<version>", "version: 3, v3 or name/v3")
    .description("point an alias at a version")
    .action(act((name: string, alias: string, version: string) => adaptersAliasCommand(io, addr(), name, alias, version, output())));

  adapters
    .command("export")
    .argument("<version>", "version: name/v3, name@alias or name (latest)")
    .argument("<dir>", "new or empty directory on this machine")
    .option("--merged", "fold an adapter into its base model (with the Python runtime here): a full model directory")
    .description("write a version here: a PEFT adapter directory (PeftModel.from_pretrained) or, --merged, a model directory (from_pretrained)")
    .action(act((id: string, dir: string, o: { merged?: boolean }) => adaptersExportCommand(io, addr(), id, dir, { ...o, output: output() })));

  const datasets = program.command("datasets").description("prepared, versioned datasets");
  datasets
    .command("list")
    .description("every prepared version with its row counts")
    .action(act(() => datasetsListCommand(io, addr(), output())));
  datasets
    .command("show")
    .argument("<version>", "dataset version id (sha256) or name")
    .option("--png <file>", "where to write the token-length histogram")
    .description("the version's card: sources, revisions, counts, cleaning, token lengths")
    .action(act((id: string, o: { png?: string }) => datasetsShowCommand(io, addr(), id, { ...o, cwd: io.cwd, output: output() })));

  const recipe = program.command("recipe").description("recipes (alignment-handbook YAML keys)");
  recipe
    .command("check")
    .argument("<file>", "recipe YAML file")
    .option("--json", "print {ok, recipe, issues} as JSON (same as -o json)")
    .option("--worker <name>", "the worker it will run on: gpu-image (the chart's trainer image, with bitsandbytes) or cpu (base runtime, no GPU)", "gpu-image")
    .description("print the normalised recipe and its warnings; exit 1 on errors (each names its key). Works offline")
    .action(act((file: string, o: { json?: boolean; worker?: string }) => recipeCheckCommand(io, file, { output: outputOr(o), ...(o.worker ? { worker: o.worker } : {}) })));

  const evalCmd = program.command("eval").description("score judge outputs offline");
  evalCmd
    .command("alpaca-score")
    .requiredOption("--annotations <file>", "AlpacaEval annotations (JSON array or JSONL)")
    .option("--lc-data <dir>", "folder with instruction_difficulty.csv and df_gamed.csv of the Hub dataset tatsu-lab/alpaca_eval (needed for LC)")
    .option("--json", "print the scores as JSON (same as -o json)")
    .description("AlpacaEval win rate and length-controlled win rate (LC needs --lc-data; without it a length adjustment under another name)")
    .action(act((o: { annotations: string; lcData?: string; json?: boolean }) => alpacaScoreCommand(io, o.annotations, { ...o, output: outputOr(o) })));
  evalCmd
    .command("mt-bench-score")
    .requiredOption("--judgments <file>", "MT-Bench single-answer judgments (JSONL)")
    .option("--questions <file>", "question.jsonl, for per-category scores")
    .option("--model <name...>", "only these models")
    .option("--json", "print the scores as JSON (same as -o json)")
    .description("MT-Bench scores (mean of the [[n]] ratings), per turn and category")
    .action(
      act((o: { judgments: string; questions?: string; model?: string[]; json?: boolean }) =>
        mtBenchScoreCommand(io, o.judgments, { ...o, output: outputOr(o) }),
      ),
    );

  program
    .command("token")
    .description("bearer tokens for a cluster's API")
    .command("new")
    .description("issue a token: prints it once, and the hashed entry for the tokens Secret (k8s/README.md)")
    .requiredOption("--name <name>", "who holds it (recorded as who started runs, moved aliases, ...)")
    .requiredOption("--role <role>", "viewer (get, list, watch, logs), operator (+ start, cancel, alias) or admin (+ export, download)")
    .option("--expires <date-time>", "refused from then on (ISO 8601)")
    .action(act(async (o: { name: string; role: string; expires?: string }) => tokenNewCommand(io, { ...o, output: output() })));

  program
    .command("completion")
    .description("print a shell completion script: source <(mambalign completion bash), or zsh")
    .argument("<shell>", "bash or zsh")
    .action(
      act(async (shell: string) => {
        if (shell !== "bash" && shell !== "zsh") throw new CliError(`completion: unknown shell ${JSON.stringify(shell.slice(0, 40))}; use bash or zsh`, 2);
        io.out.write(shell === "bash" ? bashCompletion(program) : zshCompletion(program));
        return 0;
      }),
    );

  return program;
}

/** Runs the CLI on argv (without node and script); resolves to the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof CliError) {
      io.err.write(`mambalign: ${err.message}\n`);
      return err.exitCode;
    }
    const api = err instanceof ApiError ? err : toApiError(err);
    if (api.code === 14 /* UNAVAILABLE */) {
      const where = apiAddr(program.opts<{ addr?: string }>().addr, io.env);
      io.err.write(
        `mambalign: cannot reach the API at ${where} (${api.message}): start it with \`mambalign up\`, point --addr or MAMBALIGN_ADDR at it, or retry once it has restarted\n`,
      );
      return 1;
    }
    if (api.code === status.UNAUTHENTICATED) {
      io.err.write(
        `mambalign: ${api.message}: pass --token or set MAMBALIGN_TOKEN (a cluster's token), or start \`mambalign up\`, which writes a local token to ${localTokenFile(io.env)}\n`,
      );
      return 1;
    }
    io.err.write(`mambalign: ${api.message}\n`);
    return 1;
  }
}
