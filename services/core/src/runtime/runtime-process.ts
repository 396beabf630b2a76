// The Python runtime as a child process: spec in, one RuntimeEvent per stdout line out, an exit code at the end
// (docs/architecture.md, "Runtime contract"). Shared by every service that launches the runtime.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Logger } from "pino";
import { RuntimeEvent } from "../gen/index.js";

/** Exit codes of the runtime contract. */
export const RUNTIME_EXIT = { ok: 0, error: 1, invalid: 2, preempted: 75 } as const;

export interface RuntimeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines of stderr, for error messages when the runtime died without an error event. */
  stderrTail: string[];
}

export interface RuntimeProcess {
  pid: number | undefined;
  /** Resolves once the process exited and every stdout line was handed to onEvent; rejects if it could not start. */
  exited: Promise<RuntimeExit>;
  /** SIGTERM now (the runtime checkpoints and exits 75); SIGKILL if it is still running after graceMs (never when omitted). */
  preempt(graceMs?: number): void;
  kill(): void;
}

export interface RuntimeArgsOptions {
  command: string;
  specFile: string;
  resumeDir?: string;
  /** Processes (GPUs) for data-parallel training; > 1 only for sft/dpo. */
  nproc?: number;
}

export interface LaunchRuntimeOptions extends RuntimeArgsOptions {
  python: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** Called in stdout order for every parsed event. */
  onEvent(event: RuntimeEvent): void;
}

const STDERR_TAIL_LINES = 40;

/**
 * The control plane's own credentials. The runtime never talks to NATS, S3, the API or the judge, so
 * neither it nor model code it loads (remote code from the Hub) gets them; HF_TOKEN it needs, and keeps.
 */
const CONTROL_PLANE_SECRETS = [
  "MAMBALIGN_NATS_PASSWORD",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "MAMBALIGN_TOKEN",
  "MAMBALIGN_JUDGE_API_KEY",
  "OPENAI_API_KEY",
];

/** This process's environment without the control plane's credentials. */
function runtimeBaseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of CONTROL_PLANE_SECRETS) delete env[name];
  return env;
}

/** The runtime's command line: `-m mambalign_runtime <command> --spec <file> [--resume <dir>] [--nproc <n>]`. */
export function runtimeArgs(o: RuntimeArgsOptions): string[] {
  const args = ["-m", "mambalign_runtime", o.command, "--spec", o.specFile];
  if (o.resumeDir) args.push("--resume", o.resumeDir);
  // The runtime re-launches itself through torchrun and keeps the stdout/exit-code contract.
  if (o.nproc && o.nproc > 1 && o.command !== "merge") args.push("--nproc", String(o.nproc));
  return args;
}

export function launchRuntime(o: LaunchRuntimeOptions): RuntimeProcess {
  const args = runtimeArgs(o);
  // Same process group as the caller: a pod (or test) that kills the group takes the runtime with it.
  const child: ChildProcess = spawn(o.python, args, {
    cwd: o.cwd,
    env: { ...runtimeBaseEnv(), PYTHONUNBUFFERED: "1", ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = o.logger.child({ runtimePid: child.pid, command: o.command });
  log.info({ args }, "runtime started");

  const tail: string[] = [];
  const stderr = createInterface({ input: child.stderr! });
  stderr.on("line", (line) => {
    tail.push(line);
    if (tail.length > STDERR_TAIL_LINES) tail.shift();
    log.debug({ stream: "stderr" }, line);
  });

  const stdout = createInterface({ input: child.stdout! });
  stdout.on("line", (line) => {
    if (!line.trim()) return;
    let event: RuntimeEvent;
    try {
      event = RuntimeEvent.fromJSON(JSON.parse(line));
    } catch (err) {
      // The contract keeps stdout for events; a stray print must not fail a long job.
      log.warn({ err, line: line.slice(0, 500) }, "runtime wrote a line that is not a RuntimeEvent; ignored");
      return;
    }
    o.onEvent(event);
  });
  const stdoutClosed = new Promise<void>((resolve) => stdout.once("close", resolve));
  const stderrClosed = new Promise<void>((resolve) => stderr.once("close", resolve));

  let killTimer: NodeJS.Timeout | undefined;
  let terminating = false;
  const exited = new Promise<RuntimeExit>((resolve, reject) => {
    child.once("error", (err) => reject(err));
    child.once("close", (code, signal) => {
      clearTimeout(killTimer);
      void Promise.all([stdoutClosed, stderrClosed]).then(() => {
        log.info({ code, signal }, "runtime exited");
        resolve({ code, signal, stderrTail: [...tail] });
      });
    });
  });

  return {
    pid: child.pid,
    exited,
    preempt(graceMs?: number) {
      if (child.exitCode !== null || child.signalCode !== null || terminating) return;
      terminating = true;
      log.info({ graceMs }, "forwarding SIGTERM to the runtime");
      child.kill("SIGTERM");
      if (graceMs === undefined) return;
      killTimer = setTimeout(() => {
        log.warn({ graceMs }, "runtime did not exit within the checkpoint grace period; killing it");
        child.kill("SIGKILL");
      }, graceMs);
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
