// Runs `python -m mambalign_runtime <command> --spec spec.json` (core's launchRuntime) and turns its exit into events or an error.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { launchRuntime, RUNTIME_EXIT, type RuntimeExit, RuntimeEvent, RuntimeSpec, type Logger } from "@mambalign/core";
import { RuntimeFailedError } from "./errors.js";

export interface RuntimeInvocation {
  spec: RuntimeSpec;
  /** Where spec.json is written (the spec's own outputs go where the spec says). */
  specDir: string;
  python: string;
  env: Record<string, string>;
  logger: Logger;
  /** SIGTERM to the runtime when aborted (the worker is stopping). */
  signal: AbortSignal;
  /** Called for every event, in order; a failing callback is logged, never fatal. */
  onEvent(event: RuntimeEvent): Promise<void>;
}

/** Resolves with the runtime's events when it exits 0; otherwise throws RuntimeFailedError. */
export async function runRuntime(inv: RuntimeInvocation): Promise<RuntimeEvent[]> {
  const command = inv.spec.command;
  await mkdir(inv.specDir, { recursive: true });
  const specPath = join(inv.specDir, `${command}.spec.json`);
  await writeFile(specPath, JSON.stringify(RuntimeSpec.toJSON(inv.spec), null, 2));
  const log = inv.logger.child({ runtime: command });
  const events: RuntimeEvent[] = [];
  let relay = Promise.resolve();
  const proc = launchRuntime({
    python: inv.python,
    command,
    specFile: specPath,
    env: inv.env,
    logger: inv.logger,
    onEvent(event) {
      events.push(event);
      relay = relay.then(() => inv.onEvent(event)).catch((err: unknown) => log.warn({ err }, "relaying a runtime event failed"));
    },
  });
  const onAbort = () => proc.preempt();
  inv.signal.addEventListener("abort", onAbort, { once: true });
  let exit: RuntimeExit;
  try {
    exit = await proc.exited;
  } catch (err) {
    // A missing interpreter does not appear by retrying: it is the deployment's MAMBALIGN_PYTHON.
    throw new RuntimeFailedError(`cannot start ${inv.python} (MAMBALIGN_PYTHON): ${(err as Error).message}`, null, false, undefined);
  } finally {
    inv.signal.removeEventListener("abort", onAbort);
    await relay;
  }
  const { code, signal: sig } = exit;
  if (code === RUNTIME_EXIT.ok) return events;
  const stderr = exit.stderrTail.join("\n");
  const error = events.flatMap((e) => (e.kind?.$case === "error" ? [e.kind.value] : [])).at(-1);
  const why = error?.message || stderr.trim().split("\n").slice(-3).join(" | ") || "no error message";
  if (inv.signal.aborted || sig !== null || code === RUNTIME_EXIT.preempted) {
    throw new RuntimeFailedError(`runtime ${command} was stopped (${sig ?? `exit ${code}`}): ${why}`, code, true, undefined);
  }
  // Exit 2 is an invalid spec or input: never retryable, whatever else the event says.
  const retryable = code !== RUNTIME_EXIT.invalid && (error?.retryable ?? false);
  log.warn({ code, stderr: stderr.slice(-1_000) }, "runtime failed");
  throw new RuntimeFailedError(`runtime ${command} failed (exit ${code}): ${why}`, code, retryable, error?.field || undefined);
}
