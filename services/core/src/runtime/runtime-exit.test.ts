import assert from "node:assert/strict";
import { test } from "node:test";
import { status } from "@grpc/grpc-js";
import { RuntimeFailedError, runtimeFailure, StagePreempted } from "./runtime-exit.js";

const exit = (code: number | null, signal: NodeJS.Signals | null = null) => ({ code, signal, stderrTail: ["Traceback", "boom"] });
const error = (retryable: boolean, field = "") => ({ message: "it broke", field, retryable });

test("runtime exit — one mapping for every launcher: 0 ok, 75 or a stop preempted, 2 final, 1 as the runtime says", () => {
  assert.equal(runtimeFailure("sft", exit(0), undefined, false), undefined);

  for (const [e, stopping] of [[exit(75), false], [exit(null, "SIGKILL"), true], [exit(1), true]] as const) {
    const f = runtimeFailure("sft", e, undefined, stopping);
    assert.ok(f instanceof StagePreempted && f.retryable, JSON.stringify(e));
  }

  const invalid = runtimeFailure("generate", exit(2), error(true, "model"), false)!;
  assert.ok(invalid instanceof RuntimeFailedError);
  assert.deepEqual([invalid.retryable, invalid.code, invalid.field, invalid.message], [false, status.INVALID_ARGUMENT, "model", "runtime generate failed (exit 2): it broke"]);

  assert.equal(runtimeFailure("sft", exit(1), error(false), false)!.retryable, false, "the runtime said a rerun cannot help (a NaN loss)");
  assert.equal(runtimeFailure("sft", exit(1), error(true), false)!.retryable, true, "the runtime said a rerun can help");
  const silent = runtimeFailure("sft", exit(1), undefined, false)!;
  assert.equal(silent.retryable, true, "died before it could say");
  assert.match(silent.message, /boom/, "stderr stands in for the missing error event");
  assert.equal(runtimeFailure("sft", exit(null, "SIGKILL"), undefined, false)!.retryable, true, "killed from outside (OOM)");
});
