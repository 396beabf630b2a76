// core — launching the runtime: events in stdout order, stray lines ignored, stderr tail, exit code, SIGTERM then SIGKILL.
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { createLogger } from "../logging.js";
import type { RuntimeEvent } from "../gen/index.js";
import { launchRuntime, RUNTIME_EXIT, runtimeArgs } from "./runtime-process.js";

// A stand-in `mambalign_runtime` package that follows the stdout/exit-code contract, so the launcher is tested on a real process.
const FAKE_RUNTIME = `
import json, signal, sys, time
cmd = sys.argv[1]
print(json.dumps({"started": {"startStep": 0, "totalSteps": 2}}), flush=True)
print("stray print", flush=True)
print(json.dumps({"progress": {"step": 1, "total": 2}}), flush=True)
print("warning: something on stderr", file=sys.stderr, flush=True)
if cmd == "fail":
    print(json.dumps({"error": {"message": "bad field", "field": "args.x"}}), flush=True)
    sys.exit(2)
if cmd == "print-env":
    import os
    print(" ".join(sorted(os.environ)), file=sys.stderr, flush=True)
    sys.exit(0)
if cmd == "ignores-sigterm":
    signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", file=sys.stderr, flush=True))
    print(json.dumps({"progress": {"step": 2, "total": 2}}), flush=True)
    while True: time.sleep(0.05)
`;

let dir = "";
const python = process.env.MAMBALIGN_PYTHON ?? "python3";
const logger = createLogger("runtime-test", "silent");

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "runtime-process-"));
  await mkdir(path.join(dir, "mambalign_runtime"));
  await writeFile(path.join(dir, "mambalign_runtime", "__init__.py"), "");
  await writeFile(path.join(dir, "mambalign_runtime", "__main__.py"), FAKE_RUNTIME);
});
after(() => rm(dir, { recursive: true, force: true }));

function launch(command: string, events: RuntimeEvent[]) {
  return launchRuntime({ python, command, specFile: "spec.json", cwd: dir, env: { PYTHONPATH: dir }, logger, onEvent: (e) => events.push(e) });
}

test("runtime process — events in order, non-event lines ignored, stderr tail and exit code", async () => {
  const events: RuntimeEvent[] = [];
  const exit = await launch("fail", events).exited;
  assert.deepEqual(events.map((e) => e.kind?.$case), ["started", "progress", "error"]);
  assert.equal(exit.code, RUNTIME_EXIT.invalid);
  assert.equal(exit.signal, null);
  assert.deepEqual(exit.stderrTail, ["warning: something on stderr"]);
});

test("runtime process — preempt sends SIGTERM, then SIGKILL after the grace period", async () => {
  // Preempt once the runtime has installed its SIGTERM handler (it reports step 2 right after).
  let handlerReady!: () => void;
  const ready = new Promise<void>((resolve) => (handlerReady = resolve));
  const proc = launchRuntime({
    python, command: "ignores-sigterm", specFile: "spec.json", cwd: dir, env: { PYTHONPATH: dir }, logger,
    onEvent: (e) => void (e.kind?.$case === "progress" && e.kind.value.step === 2 && handlerReady()),
  });
  await ready;
  proc.preempt(200);
  const exit = await proc.exited;
  assert.equal(exit.signal, "SIGKILL");
  assert.ok(exit.stderrTail.includes("ignoring SIGTERM"));
});

test("runtime process — a missing interpreter rejects `exited`", async () => {
  const proc = launchRuntime({ python: path.join(dir, "no-python"), command: "sft", specFile: "s.json", logger, onEvent: () => undefined });
  await assert.rejects(proc.exited, /ENOENT/);
});

test("runtime process — command line: --resume, and --nproc only for training commands", () => {
  assert.deepEqual(runtimeArgs({ command: "sft", specFile: "s.json", resumeDir: "ck", nproc: 2 }), [
    "-m", "mambalign_runtime", "sft", "--spec", "s.json", "--resume", "ck", "--nproc", "2",
  ]);
  assert.deepEqual(runtimeArgs({ command: "merge", specFile: "s.json", nproc: 2 }), ["-m", "mambalign_runtime", "merge", "--spec", "s.json"]);
  assert.deepEqual(runtimeArgs({ command: "eval", specFile: "s.json" }), ["-m", "mambalign_runtime", "eval", "--spec", "s.json"]);
});

test("runtime process — the control plane's credentials stay out of the runtime's environment; the Hub token reaches it", async () => {
  // The runtime never talks to NATS, S3, the API or the judge; model code it loads must not find their keys.
  const secrets = { MAMBALIGN_NATS_PASSWORD: "p", AWS_SECRET_ACCESS_KEY: "s", AWS_ACCESS_KEY_ID: "a", AWS_SESSION_TOKEN: "t", MAMBALIGN_TOKEN: "k", MAMBALIGN_JUDGE_API_KEY: "j", OPENAI_API_KEY: "o" };
  const saved = { ...process.env };
  Object.assign(process.env, secrets, { HF_TOKEN: "hf" });
  try {
    const exit = await launch("print-env", []).exited;
    const names = exit.stderrTail.join(" ").split(" ");
    assert.ok(names.includes("HF_TOKEN"), "gated models need the Hub token");
    for (const name of Object.keys(secrets)) assert.ok(!names.includes(name), `${name} reached the runtime`);
  } finally {
    for (const k of [...Object.keys(secrets), "HF_TOKEN"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
});
