import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { callUnary, type EvalArgs, type Evaluation, JOB_SUBJECTS, ObjectNotFoundError, Stage, StageJob, StageStatus } from "@mambalign/core";
import { type EvalTestEnv, finalTransition, getVersion, registerTinyAdapter, startEvalTestEnv, storeHeldOut, untilStageEnds } from "../test-support/eval-test-env.js";
import { settledConsumer } from "@mambalign/core/testing";
import { parseEvalResults } from "./judging/index.js";

let env: EvalTestEnv;

before(async () => {
  env = await startEvalTestEnv();
});

after(async () => {
  await env?.stop();
});

type JobFields = { [K in keyof StageJob]?: K extends "eval" ? Partial<EvalArgs> : StageJob[K] };

function evalJob(jobId: string, fields: JobFields = {}): StageJob {
  return StageJob.fromPartial({
    jobId,
    runId: jobId.split(".")[0],
    stage: Stage.STAGE_EVAL,
    attempt: 1,
    baseModel: { uri: "preset:tiny-mamba-char" },
    ...fields,
  });
}

async function getJson(key: string): Promise<any> {
  return JSON.parse((await env.deps.store.get(key)).toString("utf8"));
}

test("evaluator — an eval job for a registered adapter yields exact-match, preference accuracy and perplexity, stored and attached", async () => {
  const version = await registerTinyAdapter(env, "tiny-sft", "run1");
  const heldout = await storeHeldOut(env, "heldout.jsonl", 6);
  const prefs = await storeHeldOut(env, "heldout_prefs.jsonl", 8);

  // The base model first, in the same run: the adapter's report compares against it.
  await env.deps.bus.publishJob(JOB_SUBJECTS.eval, evalJob("run1.base.1", { evalDataset: heldout, prefsDataset: prefs }));
  const baseEnd = finalTransition(await untilStageEnds(env, "run1.base.1"));
  assert.equal(baseEnd.status, StageStatus.STAGE_STATUS_SUCCEEDED, baseEnd.message);

  await env.deps.bus.publishJob(JOB_SUBJECTS.eval, evalJob("run1.eval.1", { inputVersion: version.id, lineage: [version], evalDataset: heldout, prefsDataset: prefs }));
  const events = await untilStageEnds(env, "run1.eval.1");
  const end = finalTransition(events);
  assert.equal(end.status, StageStatus.STAGE_STATUS_SUCCEEDED, end.message);
  assert.equal(end.output, "run1.eval.1");
  assert.match(end.message, /eval\/exact_match/);
  // Runtime progress reached the run's event stream.
  const runtimeKinds = new Set(events.flatMap((e) => (e.kind?.$case === "runtime" ? [e.kind.value.kind?.$case] : [])));
  for (const k of ["started", "progress", "metrics", "finished"]) assert.ok(runtimeKinds.has(k as never), `runtime ${k} relayed`);

  // The evaluation on the registry version.
  const attached = (await getVersion(env, version.id)).evals.find((e) => e.evalId === "run1.eval.1");
  assert.ok(attached, "AttachEval reached the registry");
  const m = attached.metrics;
  assert.equal(m["eval/exact_match_rows"], 6);
  for (const k of ["eval/exact_match", "eval/preference_accuracy"]) assert.ok(m[k]! >= 0 && m[k]! <= 1, `${k}=${m[k]}`);
  assert.ok(Number.isFinite(m["eval/perplexity"]) && m["eval/perplexity"]! > 1, `perplexity ${m["eval/perplexity"]}`);
  assert.equal(m["eval/preference_pairs"], 8);
  assert.equal(attached.reportKey, "evals/run1.eval.1/report.html");

  // Stored results: generations with the held-out answers, results.json with base and sft, the report.
  const generations = (await env.deps.store.get("evals/run1.eval.1/generations.jsonl")).toString("utf8").trim().split("\n").map((l) => JSON.parse(l));
  const answers = (await env.deps.store.get(`datasets/${heldout}/test.jsonl`)).toString("utf8").trim().split("\n").map((l) => JSON.parse(l).messages.at(-1).content);
  assert.deepEqual(generations.map((g) => g.answer), answers);
  const correct = generations.filter((g) => g.output.trim() === g.answer.trim()).length;
  assert.equal(m["eval/exact_match"], correct / 6);
  const results = await getJson("evals/run1.eval.1/results.json");
  assert.deepEqual(results.entries.map((e: { label: string }) => e.label), ["base", "sft"]);
  assert.deepEqual(results.entries.at(-1).metrics["eval/perplexity"], m["eval/perplexity"]);
  const html = (await env.deps.store.get("evals/run1.eval.1/report.html")).toString("utf8");
  assert.match(html, /eval\/preference_accuracy/);
  // Judge-free metrics compare base and sft side by side in the metrics table.
  assert.match(html, /<th>metric<\/th><th>base<\/th><th>sft<br>/);

  // EvaluatorService reads what was recorded.
  const got = await callUnary(env.client.getEvaluation.bind(env.client), { id: "run1.eval.1", includeResults: true });
  assert.equal(got.evaluation?.versionId, version.id);
  // The full results come through the API (clients never read the evaluator's prefix), only when asked for.
  assert.equal(parseEvalResults(JSON.parse(got.resultsJson)).entries.at(-1)!.versionId, version.id);
  assert.equal((await callUnary(env.client.getEvaluation.bind(env.client), { id: "run1.eval.1", includeResults: false })).resultsJson, "");
  assert.equal(got.evaluation?.resultsKey, "evals/run1.eval.1/results.json");
  assert.deepEqual(got.evaluation?.metrics, m);
  const listed = await callUnary(env.client.listEvaluations.bind(env.client), { versionId: version.id });
  assert.deepEqual(listed.evaluations.map((e: Evaluation) => e.id), ["run1.eval.1"]);
  const all = await callUnary(env.client.listEvaluations.bind(env.client), { versionId: "" });
  assert.deepEqual(all.evaluations.map((e: Evaluation) => e.id), ["run1.base.1", "run1.eval.1"]);
  await assert.rejects(callUnary(env.client.getEvaluation.bind(env.client), { id: "no.such.eval", includeResults: false }), /not found/);
  await assert.rejects(callUnary(env.client.getEvaluation.bind(env.client), { id: "../x", includeResults: false }), (err: { details: { field?: string } }) => err.details.field === "id");
});

test("evaluator — bad jobs fail at once with the field named, are not retried, and store nothing", async () => {
  const heldout = await storeHeldOut(env, "heldout.jsonl", 2);
  const cases: [string, JobFields, RegExp][] = [
    ["bad1.eval.1", { inputVersion: "nope/v9", evalDataset: heldout }, /^inputVersion: .*nope\/v9.*not found/],
    ["bad2.eval.1", { evalDataset: heldout, eval: { benchmarks: ["mt_bench", "hellaswag"] } }, /^eval\.benchmarks\[1\]: unknown benchmark "hellaswag"/],
    ["bad3.eval.1", { evalDataset: "0".repeat(64) }, /^evalDataset: dataset 0{64} has no held-out split/],
    ["bad4.eval.1", {}, /^evalDataset: nothing to evaluate/],
    // Local paths a recipe names are confined to MAMBALIGN_DATA_ROOTS (none here), like PrepareDataset's.
    ["bad6.eval.1", { evalDataset: heldout, baseModel: { uri: env.demoDir, revision: "", resolved: "" } }, /^baseModel\.uri: .* is outside the local directories this service may read \(MAMBALIGN_DATA_ROOTS/],
    ["bad7.eval.1", { evalDataset: heldout, eval: { benchDataDir: env.demoDir } }, /^eval\.benchDataDir: .* is outside the local directories this service may read \(MAMBALIGN_DATA_ROOTS/],
    // The runtime itself refuses the spec (exit 2): not retryable either.
    ["bad5.eval.1", { evalDataset: heldout, baseModel: { uri: "preset:nope", revision: "", resolved: "" } }, /^runtime generate failed \(exit 2\): model: unknown preset 'nope'/],
  ];
  for (const [jobId, fields] of cases) await env.deps.bus.publishJob(JOB_SUBJECTS.eval, evalJob(jobId, fields));
  for (const [jobId, , message] of cases) {
    const end = finalTransition(await untilStageEnds(env, jobId, 30_000));
    assert.equal(end.status, StageStatus.STAGE_STATUS_FAILED, jobId);
    assert.match(end.message, message);
  }
  // Terminated, not redelivered: nothing is pending and nothing came back.
  const info = await settledConsumer(env.deps.bus.jsm, "evaluator");
  assert.equal(info.num_redelivered, 0);
  assert.equal(info.num_ack_pending, 0);
  for (const [jobId] of cases) {
    await assert.rejects(env.deps.store.get(`evals/${jobId}/results.json`), ObjectNotFoundError);
  }
});
