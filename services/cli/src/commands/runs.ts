// `mambalign run`, `status`, `logs`: runs through the PipelineService API.
import { randomUUID } from "node:crypto";
import { callUnary, type Run, recipeToYaml, RunStatus } from "@mambalign/core";
import { type CliIo, CliError } from "../cli-io.js";
import { pipelineClient } from "../clients.js";
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

export async function runCommand(io: CliIo, addr: string, file: string, opts: { requestId?: string; watch?: boolean }): Promise<number> {
  const requestId = opts.requestId ?? randomUUID();
  const run = await submitRun(io, addr, file, requestId);
  io.out.write(`run ${run.id} ${runStatusName(run.status)} (request id ${requestId}; submitting again with --request-id ${requestId} returns this run)\n`);
  for (const w of run.warnings) io.err.write(`warning: ${w}\n`);
  if (!opts.watch) {
    io.out.write(`follow it with: mambalign logs -f ${run.id}\n`);
    return 0;
  }
  return followCommand(io, addr, run.id, {});
}

export async function statusCommand(io: CliIo, addr: string, runId: string | undefined): Promise<number> {
  const client = pipelineClient(addr);
  try {
    if (!runId) {
      const { runs } = await callUnary(client.listRuns.bind(client), {});
      io.out.write(runs.length ? runsTable(runs) + "\n" : "no runs yet: start one with `mambalign run RECIPE`\n");
      return 0;
    }
    const { run } = await callUnary(client.getRun.bind(client), { id: runId });
    io.out.write(runDetails(run!) + "\n");
    return 0;
  } finally {
    client.close();
  }
}

/** Streams the run's progress until it ends; exit 0 when it succeeded. */
export async function followCommand(io: CliIo, addr: string, runId: string, opts: { tty?: boolean; signal?: AbortSignal }): Promise<number> {
  const client = pipelineClient(addr);
  try {
    const last = await showRunProgress(client, runId, { out: io.out, ...opts });
    if (!last) return 1;
    io.out.write("\n" + runDetails(last) + "\n");
    return last.status === RunStatus.RUN_STATUS_SUCCEEDED ? 0 : 1;
  } finally {
    client.close();
  }
}
