// `mambalign run`, `status`, `logs`, `cancel`: runs through the PipelineService API.
import { randomUUID } from "node:crypto";
import { ApiError, callUnary, type PipelineServiceClient, Run, recipeToYaml, RunStatus, streamResponses, WatchRunResponse } from "@mambalign/core";
import YAML from "yaml";
import { type CliIo, CliError } from "../cli-io.js";
import { pipelineClient } from "../clients.js";
import { type OutputFormat, printData } from "../output-format.js";
import { runDetails, runStatusName, runsTable } from "../run-format.js";
import { showRunProgress } from "../run-progress.js";
import { checkRecipeFile, formatIssue } from "./recipe-check.js";

/**
 * Checks the recipe here first (offline, paths resolved against the file), then sends its normalised
 * form, in which every path is absolute. Returns the run.
 */
export async function submitRun(io: CliIo, addr: string, file: string, requestId: string): Promise<Run> {
  const check = await checkRecipeFile(file, io.cwd);
  if (!check.ok) {
    for (const i of check.issues.filter((x) => x.fatal)) io.err.write(formatIssue(i) + "\n");
    throw new CliError(`${file}: invalid recipe; nothing was submitted`);
  }
  const client = pipelineClient(addr);
  try {
    const res = await callUnary(client.startRun.bind(client), { recipeYaml: recipeToYaml(check.recipe), requestId });
    return res.run!;
  } finally {
    client.close();
  }
}

/** Exit code of a command that shows a run: 1 once it failed or was cancelled, so scripts can tell. */
export function runExitCode(run: Run): number {
  return run.status === RunStatus.RUN_STATUS_FAILED || run.status === RunStatus.RUN_STATUS_CANCELLED ? 1 : 0;
}

export async function runCommand(io: CliIo, addr: string, file: string, opts: { requestId?: string; watch?: boolean; output: OutputFormat }): Promise<number> {
  const requestId = opts.requestId ?? randomUUID();
  const run = await submitRun(io, addr, file, requestId);
  for (const w of run.warnings) io.err.write(`warning: ${w}\n`);
  if (opts.output !== "text") {
    if (!opts.watch) {
      printData(io, opts.output, Run.toJSON(run), () => "");
      return 0;
    }
    // The run, then its events, each as one JSON line (or YAML document).
    io.out.write(opts.output === "json" ? JSON.stringify(Run.toJSON(run)) + "\n" : `---\n${YAML.stringify(Run.toJSON(run))}`);
    return followCommand(io, addr, run.id, { output: opts.output });
  }
  io.out.write(`run ${run.id} ${runStatusName(run.status)} (request id ${requestId}; submitting again with --request-id ${requestId} returns this run)\n`);
  if (!opts.watch) {
    io.out.write(`follow it with: mambalign logs -f ${run.id}\n`);
    return 0;
  }
  return followCommand(io, addr, run.id, {});
}

export async function statusCommand(io: CliIo, addr: string, runId: string | undefined, output: OutputFormat = "text"): Promise<number> {
  const client = pipelineClient(addr);
  try {
    if (!runId) {
      const { runs } = await callUnary(client.listRuns.bind(client), {});
      printData(io, output, runs.map((r) => Run.toJSON(r)), () => (runs.length ? runsTable(runs) : "no runs yet: start one with `mambalign run RECIPE`"));
      return 0;
    }
    const { run } = await callUnary(client.getRun.bind(client), { id: runId });
    printData(io, output, Run.toJSON(run!), () => runDetails(run!));
    return runExitCode(run!);
  } finally {
    client.close();
  }
}

/** `mambalign cancel RUN`: stops its queued and running stages; cancelling a cancelled run again is fine. */
export async function cancelCommand(io: CliIo, addr: string, runId: string, output: OutputFormat): Promise<number> {
  const client = pipelineClient(addr);
  try {
    const { run } = await callUnary(client.cancelRun.bind(client), { id: runId });
    const cancelled = run!.status === RunStatus.RUN_STATUS_CANCELLED;
    printData(io, output, Run.toJSON(run!), () =>
      cancelled ? `run ${run!.id} cancelled` : `run ${run!.id} had already ended (${runStatusName(run!.status)}); nothing to cancel`,
    );
    return cancelled ? 0 : 1;
  } finally {
    client.close();
  }
}

const UNAVAILABLE = 14; // gRPC status code

/** Each WatchRun response as one JSON line (or one YAML document) until the run ends; the last run. */
async function printEvents(io: CliIo, client: PipelineServiceClient, runId: string, output: "json" | "yaml"): Promise<Run | undefined> {
  let last: Run | undefined;
  for await (const res of streamResponses<WatchRunResponse>(client.watchRun({ id: runId, fromSeq: 0n }))) {
    last = res.run ?? last;
    const data = WatchRunResponse.toJSON(res);
    io.out.write(output === "json" ? JSON.stringify(data) + "\n" : `---\n${YAML.stringify(data)}`);
  }
  return last;
}

/** Streams the run's progress (or, -o json|yaml, its events as data) until it ends; exit 0 when it succeeded. */
export async function followCommand(
  io: CliIo,
  addr: string,
  runId: string,
  opts: { tty?: boolean; signal?: AbortSignal; output?: OutputFormat },
): Promise<number> {
  const client = pipelineClient(addr);
  try {
    if (opts.output === "json" || opts.output === "yaml") {
      const end = await printEvents(io, client, runId, opts.output);
      return end?.status === RunStatus.RUN_STATUS_SUCCEEDED ? 0 : 1;
    }
    const last = await showRunProgress(client, runId, { out: io.out, ...opts });
    if (!last) return 1;
    io.out.write("\n" + runDetails(last) + "\n");
    return last.status === RunStatus.RUN_STATUS_SUCCEEDED ? 0 : 1;
  } catch (err) {
    if (err instanceof ApiError && err.code === UNAVAILABLE) {
      // The stream broke mid-run: the run itself goes on in the control plane.
      throw new CliError(
        `no connection to the API at ${addr} (${err.message}): the control plane is not running, or stopped or restarted. ` +
          `A run goes on once it is back; follow it again with \`mambalign logs -f ${runId}\``,
      );
    }
    throw err;
  } finally {
    client.close();
  }
}
