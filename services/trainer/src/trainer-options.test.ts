// trainer — options from the environment: defaults, overrides, and errors naming the variable.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, retryWindowMs, runtimeArgs } from "@mambalign/core";
import { loadTrainerOptions, TRAINER_DEFAULTS } from "./trainer-options.js";

test("trainer options — defaults: unlimited jobs, 120 s checkpoint grace, 60 s lease", () => {
  const o = loadTrainerOptions({ HOSTNAME: "trainer-7f9c" });
  assert.equal(o.maxJobs, 0);
  assert.equal(o.checkpointGraceMs, TRAINER_DEFAULTS.checkpointGraceS * 1000);
  assert.equal(o.ackWaitMs, 60_000);
  assert.match(o.workerId, /^trainer-7f9c-\d+$/);
});

test("trainer options — by default a stage rides out a 60 s store or NATS outage (a 45 s one ended it for good)", () => {
  const o = loadTrainerOptions({ HOSTNAME: "trainer-7f9c" });
  assert.ok(retryWindowMs(o.maxDeliver, o.retryBackoff) >= 120_000);
});

test("trainer options — MAMBALIGN_TRAINER_MAX_JOBS=1 and a grace period in seconds", () => {
  const o = loadTrainerOptions({ MAMBALIGN_TRAINER_MAX_JOBS: "1", MAMBALIGN_CHECKPOINT_GRACE_S: "2.5", MAMBALIGN_TRAINER_ACK_WAIT_S: "3" });
  assert.deepEqual([o.maxJobs, o.checkpointGraceMs, o.ackWaitMs], [1, 2500, 3000]);
});

test("trainer options — bad values are rejected naming the variable", () => {
  for (const [variable, value] of [
    ["MAMBALIGN_TRAINER_MAX_JOBS", "-1"],
    ["MAMBALIGN_TRAINER_MAX_JOBS", "one"],
    ["MAMBALIGN_CHECKPOINT_GRACE_S", "0"],
    ["MAMBALIGN_TRAINER_ACK_WAIT_S", "0.5"],
    ["MAMBALIGN_TRAINER_GPUS", "0"],
  ] as const) {
    assert.throws(
      () => loadTrainerOptions({ [variable]: value }),
      (err: unknown) => err instanceof ConfigError && err.variable === variable && err.message.includes(variable),
      `${variable}=${value}`,
    );
  }
});

test("trainer options — MAMBALIGN_TRAINER_GPUS=4 runs SFT/DPO on 4 processes, merge on one", () => {
  const { gpus } = loadTrainerOptions({ MAMBALIGN_TRAINER_GPUS: "4" });
  assert.equal(gpus, 4);
  assert.equal(loadTrainerOptions({}).gpus, 1);
  assert.deepEqual(runtimeArgs({ command: "sft", specFile: "s.json", resumeDir: "ck", nproc: gpus }), [
    "-m", "mambalign_runtime", "sft", "--spec", "s.json", "--resume", "ck", "--nproc", "4",
  ]);
  assert.deepEqual(runtimeArgs({ command: "merge", specFile: "s.json", nproc: gpus }), ["-m", "mambalign_runtime", "merge", "--spec", "s.json"]);
  assert.deepEqual(runtimeArgs({ command: "dpo", specFile: "s.json", nproc: 1 }), ["-m", "mambalign_runtime", "dpo", "--spec", "s.json"]);
});

test("trainer options — MLflow credentials (for tagging a run with its registered version) come from MLflow's own variables", () => {
  assert.equal(loadTrainerOptions({}).mlflowAuth, null);
  assert.deepEqual(loadTrainerOptions({ MLFLOW_TRACKING_TOKEN: "t0k" }).mlflowAuth, { token: "t0k" });
  assert.deepEqual(loadTrainerOptions({ MLFLOW_TRACKING_USERNAME: "me", MLFLOW_TRACKING_PASSWORD: "pw" }).mlflowAuth, { username: "me", password: "pw" });
});
