import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AdapterVersion, checkRecipe, DatasetVersion, JOB_SUBJECTS, type Run, type RunEvent, RunStatus, Stage, StageStatus } from "@mambalign/core";
import { applyEvent, beginRun, cancelRun, failRun, isRunEndEvent, newRun, type RunDatasets, type Step } from "./run-machine.js";

const RECIPE = `
name: demo
model_name_or_path: preset:tiny-mamba-char
stages: [sft, merge, dpo, eval]
datasets: { s: /data/sft.jsonl, p: /data/prefs.jsonl, q: /data/heldout.jsonl }
use_peft: true
sft: { dataset_mixer: { s: 1.0 } }
dpo: { dataset_mixer: { p: 1.0 }, beta: 0.1 }
eval: { exact_match_dataset: q, max_new_tokens: 8 }
`;
const DATASETS: RunDatasets = {
  sft: "sha-sft",
  dpo: "sha-dpo",
  evalQuestions: "file:///objects/datasets/sha-q/train.jsonl",
  sftData: DatasetVersion.fromPartial({ id: "sha-sft", splits: [{ name: "train", key: "datasets/sha-sft/train.jsonl", rows: 9 }] }),
  dpoData: DatasetVersion.fromPartial({ id: "sha-dpo", splits: [{ name: "train", key: "datasets/sha-dpo/train.jsonl", rows: 9 }] }),
};
const T0 = new Date("2026-01-01T00:00:00Z");

function fresh(yaml = RECIPE): Run {
  const { recipe, ok, issues } = checkRecipe(yaml);
  assert.ok(ok, JSON.stringify(issues));
  return newRun({ id: "demo-1", requestId: "r1", recipe, warnings: [], now: T0 });
}

function transition(run: Run, stage: Stage, status: StageStatus, output = "", message = "", metrics: Record<string, number> = {}, outputVersion?: AdapterVersion): RunEvent {
  const s = run.stages.find((x) => x.stage === stage)!;
  return { runId: run.id, stage, jobId: s.jobId, time: T0, kind: { $case: "transition", value: { status, message, output, metrics, outputVersion } } };
}

/** A stage's success as its worker reports it: a trained version comes with its registry record (parent: the stage's input). */
function succeed(run: Run, stage: Stage, output: string): Step {
  const index = run.stages.findIndex((x) => x.stage === stage);
  const parent = index > 0 ? run.stages[index - 1]!.output : "";
  const record = stage !== Stage.STAGE_EVAL && output ? AdapterVersion.fromPartial({ id: output, parent, uri: `s3://b/adapters/${output}` }) : undefined;
  return applyEvent(run, transition(run, stage, StageStatus.STAGE_STATUS_SUCCEEDED, output, "", {}, record), T0);
}

describe("pipeline state machine", () => {
  test("a new run is pending with every recipe stage not yet queued", () => {
    const run = fresh();
    assert.equal(run.status, RunStatus.RUN_STATUS_PENDING);
    assert.deepEqual(run.stages.map((s) => [s.stage, s.attempt]), [
      [Stage.STAGE_SFT, 0],
      [Stage.STAGE_MERGE, 0],
      [Stage.STAGE_DPO, 0],
      [Stage.STAGE_EVAL, 0],
    ]);
  });

  test("begin queues SFT on jobs.train with the SFT dataset, and the base model's baseline evaluation, once", () => {
    const step = beginRun(fresh(), DATASETS, T0);
    assert.equal(step.run.status, RunStatus.RUN_STATUS_RUNNING);
    assert.deepEqual(step.jobs.map((j) => [j.subject, j.job.jobId, j.job.inputVersion]), [
      [JOB_SUBJECTS.train, "demo-1.sft.1", ""],
      [JOB_SUBJECTS.eval, "demo-1.eval-base.1", ""],
    ]);
    const { subject, job } = step.jobs[0]!;
    assert.equal(subject, JOB_SUBJECTS.train);
    assert.equal(job.jobId, "demo-1.sft.1");
    assert.equal(job.trainDataset, "sha-sft");
    assert.equal(job.inputVersion, "");
    assert.equal(job.baseModel?.uri, "preset:tiny-mamba-char");
    assert.equal(job.recipe?.args?.lora?.enabled, true);
    assert.equal(step.run.trainDatasetDpo, "sha-dpo");
    assert.equal(beginRun(step.run, DATASETS, T0).changed, false, "a second begin is a no-op");
  });

  test("SFT -> MERGE -> DPO -> EVAL follows the lineage and ends the run", () => {
    let run = beginRun(fresh(), DATASETS, T0).run;
    let step = succeed(run, Stage.STAGE_SFT, "demo-sft/v1");
    assert.deepEqual(step.jobs.map((j) => [j.subject, j.job.jobId, j.job.inputVersion]), [
      [JOB_SUBJECTS.eval, "demo-1.eval-sft.1", "demo-sft/v1"],
      [JOB_SUBJECTS.merge, "demo-1.merge.1", "demo-sft/v1"],
    ]);
    run = step.run;
    step = succeed(run, Stage.STAGE_MERGE, "demo-sft-merged/v1");
    const dpo = step.jobs[0]!.job;
    assert.deepEqual([step.jobs[0]!.subject, dpo.inputVersion, dpo.trainDataset, dpo.baseModel?.uri], [
      JOB_SUBJECTS.train,
      "demo-sft-merged/v1",
      "sha-dpo",
      "preset:tiny-mamba-char",
    ]);
    assert.equal(dpo.recipe?.dpo?.beta, 0.1);
    run = step.run;
    step = succeed(run, Stage.STAGE_DPO, "demo-dpo/v1");
    const ev = step.jobs[0]!.job;
    assert.equal(step.jobs[0]!.subject, JOB_SUBJECTS.eval);
    assert.equal(ev.inputVersion, "demo-dpo/v1", "eval takes the last trained version");
    assert.equal(ev.evalDataset, "sha-sft");
    assert.equal(ev.prefsDataset, "sha-dpo");
    assert.equal(ev.eval?.exactMatchDataset, DATASETS.evalQuestions);
    assert.equal(ev.eval?.maxNewTokens, 8);
    run = step.run;
    for (const b of run.baselines) {
      const done: RunEvent = { runId: run.id, stage: Stage.STAGE_EVAL, jobId: b.jobId, time: T0, kind: { $case: "transition", value: { status: StageStatus.STAGE_STATUS_SUCCEEDED, message: "", output: b.jobId, metrics: { "eval/exact_match": b.label === "base" ? 0 : 0.5 }, outputVersion: undefined } } };
      run = applyEvent(run, done, T0).run;
    }
    assert.equal(run.status, RunStatus.RUN_STATUS_RUNNING);
    step = applyEvent(run, transition(run, Stage.STAGE_EVAL, StageStatus.STAGE_STATUS_SUCCEEDED, "eval-123", "", { "eval/exact_match": 0.75 }), T0);
    assert.equal(step.run.status, RunStatus.RUN_STATUS_SUCCEEDED);
    assert.equal(step.run.stages[3]!.metrics["eval/exact_match"], 0.75);
    assert.deepEqual(step.run.baselines.map((b) => [b.label, b.versionId, b.metrics["eval/exact_match"]]), [
      ["base", "", 0],
      ["sft", "demo-sft/v1", 0.5],
    ]);
    assert.equal(step.jobs.length, 0);
    assert.equal(step.events.filter(isRunEndEvent).length, 1, "one run-end event");
    assert.ok(step.run.stages.every((s) => s.status === StageStatus.STAGE_STATUS_SUCCEEDED));
  });

  test("a replayed SUCCEEDED does not queue the next stage twice", () => {
    const run = beginRun(fresh(), DATASETS, T0).run;
    const ev = transition(run, Stage.STAGE_SFT, StageStatus.STAGE_STATUS_SUCCEEDED, "demo-sft/v1", "", {}, AdapterVersion.fromPartial({ id: "demo-sft/v1" }));
    const once = applyEvent(run, ev, T0);
    assert.equal(once.jobs.length, 2);
    const again = applyEvent(once.run, ev, T0);
    assert.equal(again.changed, false);
    assert.equal(again.jobs.length, 0);
    assert.equal(again.run.stages[1]!.attempt, 1);
  });

  test("events of other jobs, attempts or runs change nothing", () => {
    const run = beginRun(fresh(), DATASETS, T0).run;
    const ok = transition(run, Stage.STAGE_SFT, StageStatus.STAGE_STATUS_SUCCEEDED, "v");
    assert.equal(applyEvent(run, { ...ok, jobId: "demo-1.sft.0" }, T0).changed, false);
    assert.equal(applyEvent(run, { ...ok, runId: "other" }, T0).changed, false);
    assert.equal(applyEvent(run, { ...ok, jobId: "demo-1.merge.1" }, T0).changed, false, "merge is not queued yet");
  });

  test("runtime progress updates step, total and training metrics of the stage", () => {
    const run = beginRun(fresh(), DATASETS, T0).run;
    const jobId = run.stages[0]!.jobId;
    const step = applyEvent(
      run,
      {
        runId: run.id,
        stage: Stage.STAGE_SFT,
        jobId,
        time: T0,
        kind: {
          $case: "runtime",
          value: {
            time: T0,
            kind: {
              $case: "progress",
              value: { step: 7, total: 20, loss: 1.5, lr: 1e-3, tokensPerS: 900, gradNorm: 0, etaS: 3, mfu: 0, gpuMemGib: 0, extra: { "rewards/margins": 0.2 } },
            },
          },
        },
      },
      T0,
    );
    const s = step.run.stages[0]!;
    assert.equal(s.status, StageStatus.STAGE_STATUS_RUNNING);
    assert.deepEqual([s.step, s.totalSteps, s.metrics["train/loss"], s.metrics["rewards/margins"]], [7, 20, 1.5, 0.2]);
  });

  test("a failed stage fails the run with its message and cancels the stages after it", () => {
    const run = beginRun(fresh(), DATASETS, T0).run;
    const step = applyEvent(run, transition(run, Stage.STAGE_SFT, StageStatus.STAGE_STATUS_FAILED, "", "CUDA out of memory"), T0);
    assert.equal(step.run.status, RunStatus.RUN_STATUS_FAILED);
    assert.match(step.run.message, /sft failed: CUDA out of memory/);
    assert.deepEqual(step.run.stages.map((s) => s.status), [
      StageStatus.STAGE_STATUS_FAILED,
      StageStatus.STAGE_STATUS_CANCELLED,
      StageStatus.STAGE_STATUS_CANCELLED,
      StageStatus.STAGE_STATUS_CANCELLED,
    ]);
    assert.equal(step.jobs.length, 0);
  });

  test("SUCCEEDED without an output version is a failure, not a silent advance", () => {
    const run = beginRun(fresh(), DATASETS, T0).run;
    const step = succeed(run, Stage.STAGE_SFT, "");
    assert.equal(step.run.status, RunStatus.RUN_STATUS_FAILED);
    assert.equal(step.jobs.length, 0);
  });

  test("the run waits for a baseline evaluation still running, and a failed one does not fail it", () => {
    let run = beginRun(fresh(), DATASETS, T0).run;
    for (const stage of [Stage.STAGE_SFT, Stage.STAGE_MERGE, Stage.STAGE_DPO, Stage.STAGE_EVAL]) run = succeed(run, stage, `${stage}-out`).run;
    assert.equal(run.status, RunStatus.RUN_STATUS_RUNNING);
    assert.equal(run.message, "waiting for baseline evaluations");
    const ended = (jobId: string, status: StageStatus): RunEvent => ({ runId: run.id, stage: Stage.STAGE_EVAL, jobId, time: T0, kind: { $case: "transition", value: { status, message: "boom", output: "", metrics: {}, outputVersion: undefined } } });
    run = applyEvent(run, ended("demo-1.eval-base.1", StageStatus.STAGE_STATUS_FAILED), T0).run;
    assert.equal(run.status, RunStatus.RUN_STATUS_RUNNING);
    const last = applyEvent(run, { ...ended("demo-1.eval-sft.1", StageStatus.STAGE_STATUS_SUCCEEDED), kind: { $case: "transition", value: { status: StageStatus.STAGE_STATUS_SUCCEEDED, message: "", output: "e", metrics: {}, outputVersion: undefined } } }, T0);
    assert.equal(last.run.status, RunStatus.RUN_STATUS_SUCCEEDED);
    assert.equal(last.run.baselines[0]!.status, StageStatus.STAGE_STATUS_FAILED);
    assert.equal(last.events.filter(isRunEndEvent).length, 1);
  });

  test("after cancel, later events are ignored", () => {
    const run = beginRun(fresh(), DATASETS, T0).run;
    const cancelled = cancelRun(run, "cancelled by request", T0);
    assert.equal(cancelled.run.status, RunStatus.RUN_STATUS_CANCELLED);
    assert.equal(cancelled.run.stages[0]!.status, StageStatus.STAGE_STATUS_CANCELLED);
    assert.equal(cancelled.events.filter(isRunEndEvent).length, 1);
    assert.equal(succeed(cancelled.run, Stage.STAGE_SFT, "demo-sft/v1").changed, false);
    assert.equal(cancelRun(cancelled.run, "again", T0).changed, false);
  });

  test("jobs carry their inputs resolved: the prepared dataset versions and the input version's lineage, nearest first", () => {
    let step = beginRun(fresh(), DATASETS, T0);
    assert.deepEqual([step.jobs[0]!.job.trainData?.id, step.jobs[0]!.job.evalData?.id, step.jobs[0]!.job.lineage], ["sha-sft", "sha-sft", []]);
    step = succeed(step.run, Stage.STAGE_SFT, "demo-sft/v1");
    const lineage = (jobId: string) => step.jobs.find((j) => j.job.jobId === jobId)!.job.lineage.map((v) => v.id);
    assert.deepEqual(lineage("demo-1.merge.1"), ["demo-sft/v1"]);
    assert.deepEqual(lineage("demo-1.eval-sft.1"), ["demo-sft/v1"]);
    step = succeed(step.run, Stage.STAGE_MERGE, "demo-sft-merged/v1");
    assert.deepEqual(lineage("demo-1.dpo.1"), ["demo-sft-merged/v1", "demo-sft/v1"]);
    assert.equal(step.jobs[0]!.job.trainData?.id, "sha-dpo");
    step = succeed(step.run, Stage.STAGE_DPO, "demo-dpo/v1");
    assert.deepEqual(lineage("demo-1.eval.1"), ["demo-dpo/v1", "demo-sft-merged/v1", "demo-sft/v1"]);
    assert.equal(step.jobs[0]!.job.lineage[0]!.uri, "s3://b/adapters/demo-dpo/v1");
  });

  test("a training stage that succeeds without its version's registry record fails the run naming the version, and queues nothing", () => {
    const run = beginRun(fresh(), DATASETS, T0).run;
    const step = applyEvent(run, transition(run, Stage.STAGE_SFT, StageStatus.STAGE_STATUS_SUCCEEDED, "demo-sft/v1"), T0);
    assert.equal(step.run.status, RunStatus.RUN_STATUS_FAILED);
    assert.match(step.run.message, /^sft failed: .*registry record of its output version demo-sft\/v1/);
    assert.equal(step.jobs.length, 0);
  });

  test("an eval-only run evaluates the base model", () => {
    const run = fresh(`
model_name_or_path: preset:tiny-mamba-char
stages: [eval]
eval: { exact_match_dataset: /data/heldout.jsonl }
`);
    const step = beginRun(run, { sft: "", dpo: "", evalQuestions: "file:///q.jsonl", sftData: undefined, dpoData: undefined }, T0);
    assert.equal(step.jobs.length, 1, "no baseline: the eval stage itself evaluates the base model");
    const job = step.jobs[0]!.job;
    assert.equal(job.stage, Stage.STAGE_EVAL);
    assert.equal(job.inputVersion, "");
    assert.equal(job.evalDataset, "");
  });
  test("a run that fails before its stages run (dataset preparation) ends with every stage cancelled, none pending", () => {
    const step = failRun(fresh(), "preparing the sft dataset failed: sft.dataset_mixer.s: no such file", T0);
    assert.equal(step.run.status, RunStatus.RUN_STATUS_FAILED);
    assert.deepEqual(step.run.stages.map((s) => s.status), step.run.stages.map(() => StageStatus.STAGE_STATUS_CANCELLED));
    assert.ok(step.run.baselines.every((b) => b.status === StageStatus.STAGE_STATUS_CANCELLED));
    assert.ok(step.events.some(isRunEndEvent));
  });

  test("a stage delivered again shows the current delivery and why the last one did not finish", () => {
    let run = beginRun(fresh(), DATASETS, T0).run;
    const running = (msg: string) => applyEvent(run, transition(run, Stage.STAGE_SFT, StageStatus.STAGE_STATUS_RUNNING, "", msg), T0);
    run = running("delivery 1 on w1").run;
    assert.equal(run.stages[0]!.message, "delivery 1 on w1");
    assert.equal(running("delivery 1 on w1").changed, false, "a replayed event changes nothing");
    // The worker died: the next delivery starts without a hand-back.
    run = running("delivery 2 on w2").run;
    assert.match(run.stages[0]!.message, /^delivery 2 on w2 \(redelivered: the previous delivery did not finish/);
    // A worker that hands the job back says why; the next delivery repeats it.
    run = applyEvent(run, transition(run, Stage.STAGE_SFT, StageStatus.STAGE_STATUS_PENDING, "", "preempted: node drained"), T0).run;
    run = running("delivery 3 on w1").run;
    assert.equal(run.stages[0]!.message, "delivery 3 on w1 (redelivered: preempted: node drained)");
  });
});
