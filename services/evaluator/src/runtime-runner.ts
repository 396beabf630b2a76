// Runs `python -m mambalign_runtime <command> --spec spec.json` and reads its stdout events.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { RuntimeEvent, RuntimeSpec, type Logger } from "@mambalign/core";
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

// The runtime's documented exit codes (docs/architecture.md, "Runtime contract").
const EXIT_INVALID = 2;
const EXIT_PREEMPTED = 75;
const STDERR_TAIL = 4_000;

/** Resolves with the runtime's events when it exits 0; otherwise throws RuntimeFailedError. */
export async function runRuntime(inv: RuntimeInvocation): Promise<RuntimeEvent[]> {
  const command = inv.spec.command;
  await mkdir(inv.specDir, { recursive: true });
  const specPath = join(inv.specDir, `${command}.spec.json`);
  await writeFile(specPath, JSON.stringify(RuntimeSpec.toJSON(inv.spec), null, 2));
  const log = inv.logger.child({ runtime: command });
  const child = spawn(inv.python, ["-m", "mambalign_runtime", command, "--spec", specPath], {
    env: { ...process.env, ...inv.env, PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const onAbort = () => child.kill("SIGTERM");
  inv.signal.addEventListener("abort", onAbort, { once: true });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL);
  });
  const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null; spawnError?: Error }>((resolve) => {
    child.once("error", (spawnError) => resolve({ code: null, sig: null, spawnError }));
    child.once("close", (code, sig) => resolve({ code, sig }));
  });
  const events: RuntimeEvent[] = [];
  let relay = Promise.resolve();
  for await (const line of createInterface({ input: child.stdout })) {
    if (!line.trim()) continue;
    let event: RuntimeEvent;
    try {
      event = RuntimeEvent.fromJSON(JSON.parse(line));
    } catch (err) {
      // The contract says stdout carries events only; keep going but say so.
      log.warn({ err, line: line.slice(0, 200) }, "runtime printed a line that is not a RuntimeEvent");
      continue;
    }
    events.push(event);
    relay = relay.then(() => inv.onEvent(event)).catch((err: unknown) => log.warn({ err }, "relaying a runtime event failed"));
  }
  const { code, sig, spawnError } = await exited;
  inv.signal.removeEventListener("abort", onAbort);
  await relay;
  if (spawnError) {
    // A missing interpreter does not appear by retrying: it is the deployment's MAMBALIGN_PYTHON.
    throw new RuntimeFailedError(`cannot start ${inv.python} (MAMBALIGN_PYTHON): ${spawnError.message}`, null, false, undefined);
  }
  if (code === 0) return events;
  const error = events.flatMap((e) => (e.kind?.$case === "error" ? [e.kind.value] : [])).at(-1);
  const why = error?.message || stderr.trim().split("\n").slice(-3).join(" | ") || "no error message";
  if (inv.signal.aborted || sig !== null || code === EXIT_PREEMPTED) {
    throw new RuntimeFailedError(`runtime ${command} was stopped (${sig ?? `exit ${code}`}): ${why}`, code, true, undefined);
  }
  // Exit 2 is an invalid spec or input: never retryable, whatever else the event says.
  const retryable = code !== EXIT_INVALID && (error?.retryable ?? false);
  log.warn({ code, stderr: stderr.slice(-1_000) }, "runtime failed");
  throw new RuntimeFailedError(`runtime ${command} failed (exit ${code}): ${why}`, code, retryable, error?.field || undefined);
}
