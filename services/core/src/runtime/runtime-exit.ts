// The one mapper from the runtime's exit (code, signal, last `error` event) to our errors
// (docs/architecture.md "Runtime contract"). Every launcher of the runtime settles through it.
import { status } from "@grpc/grpc-js";
import { ApiError } from "../errors.js";
import type { RuntimeEvent_RuntimeError } from "../gen/index.js";
import { RUNTIME_EXIT, type RuntimeExit } from "./runtime-process.js";

/** The runtime did not exit 0; `retryable` says whether another delivery can help. */
export class RuntimeFailedError extends ApiError {
  override name = "RuntimeFailedError";
  constructor(
    message: string,
    readonly exitCode: number | null,
    retryable: boolean,
    /** Spec field or file the runtime named, when it did. */
    field: string | undefined,
  ) {
    const code = exitCode === RUNTIME_EXIT.invalid ? status.INVALID_ARGUMENT : retryable ? status.UNAVAILABLE : status.INTERNAL;
    super(code, message, field ? { field } : {}, { retryable });
  }
}

/** Stopped on request (the worker is stopping; SIGTERM, exit 75): the next delivery resumes from its checkpoint. */
export class StagePreempted extends ApiError {
  override name = "StagePreempted";
  constructor(message: string) {
    super(status.UNAVAILABLE, message);
  }
}

/**
 * undefined for exit 0; otherwise the error the exit means:
 * - 75, or any exit while we were stopping it: preempted, retryable (the next delivery resumes);
 * - 2: the spec or the data is wrong; running it again gives the same answer;
 * - a signal we did not send (OOM killer, device fault): retryable, another node may succeed;
 * - 1: the runtime's own verdict (`error.retryable`); without an error event it died before it could
 *   say, which a rerun may cure.
 */
export function runtimeFailure(
  command: string,
  exit: RuntimeExit,
  error: RuntimeEvent_RuntimeError | undefined,
  stopping: boolean,
): ApiError | undefined {
  const { code, signal } = exit;
  if (code === RUNTIME_EXIT.ok) return undefined;
  const why = error?.message || exit.stderrTail.slice(-5).join("\n").trim() || "no error message";
  const field = error?.field || undefined;
  if (code === RUNTIME_EXIT.preempted || stopping) {
    return new StagePreempted(`runtime ${command} was stopped (${signal ?? `exit ${code}`}): ${why}`);
  }
  if (code === RUNTIME_EXIT.invalid) return new RuntimeFailedError(`runtime ${command} failed (exit ${code}): ${why}`, code, false, field);
  if (signal) return new RuntimeFailedError(`runtime ${command} killed by ${signal}: ${why}`, code, true, field);
  return new RuntimeFailedError(`runtime ${command} failed (exit ${code}): ${why}`, code, error?.retryable ?? true, field);
}
