// One run of the runtime with a spec: write spec.json, launch, hand every parsed event on in order,
// stop it when asked, and settle its exit through the one exit mapper. Used by every stage worker.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { type RuntimeEvent, type RuntimeEvent_Artifact, type RuntimeEvent_RuntimeError, RuntimeSpec } from "../gen/index.js";
import { type RuntimeExit, launchRuntime } from "./runtime-process.js";
import { RuntimeFailedError, runtimeFailure } from "./runtime-exit.js";

export interface RunRuntimeOptions {
  python: string;
  spec: RuntimeSpec;
  /** Where spec.json is written; also the process's working directory. */
  dir: string;
  resumeDir?: string;
  /** Processes (GPUs) for data-parallel training. */
  nproc?: number;
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** Aborting stops the runtime: SIGTERM (it checkpoints and exits 75), then SIGKILL after `graceMs()`. */
  signal: AbortSignal;
  /** Read when the signal fires (a cancelled run waits less than a preempted one); undefined: never SIGKILL. */
  graceMs?: () => number | undefined;
  /** Called in stdout order for every event; must not throw. */
  onEvent?(event: RuntimeEvent): void;
}

export interface RuntimeResult {
  exit: RuntimeExit;
  /** The last `artifact` event. */
  artifact: RuntimeEvent_Artifact | undefined;
}

/** Resolves when the runtime exits 0; otherwise throws the RuntimeFailedError its exit means. */
export async function runRuntime(o: RunRuntimeOptions): Promise<RuntimeResult> {
  const command = o.spec.command;
  await mkdir(o.dir, { recursive: true });
  const specFile = path.join(o.dir, "spec.json");
  await writeFile(specFile, `${JSON.stringify(RuntimeSpec.toJSON(o.spec), null, 2)}\n`);
  let artifact: RuntimeEvent_Artifact | undefined;
  let error: RuntimeEvent_RuntimeError | undefined;
  const proc = launchRuntime({
    python: o.python,
    command,
    specFile,
    resumeDir: o.resumeDir,
    nproc: o.nproc,
    cwd: o.dir,
    env: o.env,
    logger: o.logger,
    onEvent(event) {
      if (event.kind?.$case === "artifact") artifact = event.kind.value;
      if (event.kind?.$case === "error") error = event.kind.value;
      o.onEvent?.(event);
    },
  });
  const onAbort = () => proc.preempt(o.graceMs?.());
  o.signal.addEventListener("abort", onAbort, { once: true });
  if (o.signal.aborted) onAbort();
  let exit: RuntimeExit;
  try {
    exit = await proc.exited;
  } catch (err) {
    // A missing interpreter does not appear by retrying: it is the deployment's MAMBALIGN_PYTHON.
    throw new RuntimeFailedError(`cannot start the runtime (${o.python} -m mambalign_runtime): ${(err as Error).message}`, null, false, "MAMBALIGN_PYTHON");
  } finally {
    o.signal.removeEventListener("abort", onAbort);
  }
  const failure = runtimeFailure(command, exit, error, o.signal.aborted);
  if (failure) {
    o.logger.warn({ code: exit.code, signal: exit.signal, stderr: exit.stderrTail.slice(-10) }, "runtime failed");
    throw failure;
  }
  return { exit, artifact };
}
