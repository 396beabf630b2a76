// pipeline — StartRun idempotency, rejection of bad input with nothing written, and the run state
// machine over real gRPC, NATS JetStream and the fs object store (with the real datasets service).
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  AdapterVersion,
  ApiError,
  callUnary,
  createClient,
  EVENTS_STREAM,
  JOB_SUBJECTS,
  PipelineServiceClient,
  type Run,
  type RunEvent,
  RunStatus,
  Stage,
  StageStatus,
  type WatchRunResponse,
} from "@mambalign/core";
import { runCli } from "@mambalign/cli";
import { startDatasetsService } from "@mambalign/datasets";
import { RUNS_BUCKET, startPipelineService } from "@mambalign/pipeline";
import { makeUnwritable, TEST_TOKENS } from "@mambalign/core/testing";
import { collect } from "../../services/cli/test-support/collect-output.js";
import { allKeys, type Harness, startHarness } from "./harness.js";

const SFT_ROWS = Array.from({ length: 40 }, (_, i) => ({
  messages: [
    { role: "user", content: `reverse w${i}x` },
    { role: "assistant", content: `x${i}w`.split("").reverse().join("") },
  ],
}));
const PREF_ROWS = Array.from({ length: 40 }, (_, i) => ({
  prompt: [{ role: "user", content: `reverse p${i}q` }],
  chosen: [{ role: "assistant", content: `q${i}p` }],
  rejected: [{ role: "assistant", content: `p${i}q` }],
}));

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

function recipe(dir: string, extra = ""): string {
  return `
name: itest
model_name_or_path: preset:tiny-mamba-char
stages: [sft, merge, dpo, eval]
datasets:
  sft-data: ${dir}/sft.jsonl
  prefs: ${dir}/prefs.jsonl
  questions: ${dir}/sft.jsonl
use_peft: true
sft: { dataset_mixer: { sft-data: 1.0 }, max_steps: 2 }
dpo: { dataset_mixer: { prefs: 1.0 }, max_steps: 2 }
eval: { exact_match_dataset: questions }
${extra}`;
}

describe("pipeline API", () => {
  let h: Harness;
  let client: PipelineServiceClient;
  let data: string;

  before(async () => {
    h = await startHarness(async (deps) => [await startDatasetsService(deps), await startPipelineService(deps)]);
    client = createClient(PipelineServiceClient, h.addr);
    data = path.join(h.tmp, "data");
    await fsp.mkdir(data);
    await fsp.writeFile(path.join(data, "sft.jsonl"), jsonl(SFT_ROWS));
    await fsp.writeFile(path.join(data, "prefs.jsonl"), jsonl(PREF_ROWS));
  });
  after(async () => {
    client?.close();
    await h?.stop();
  });

  const startRun = (recipeYaml: string, requestId: string) => callUnary(client.startRun.bind(client), { recipeYaml, requestId });
  const getRun = async (id: string) => (await callUnary(client.getRun.bind(client), { id })).run!;

  async function rejected(recipeYaml: string, requestId: string): Promise<ApiError> {
    try {
      await startRun(recipeYaml, requestId);
    } catch (err) {
      assert.ok(err instanceof ApiError);
      return err;
    }
    assert.fail("StartRun should have been rejected");
  }

  async function runsKvKeys(): Promise<string[]> {
    const kv = await h.deps.bus.kv(RUNS_BUCKET, { encode: (v: unknown) => v, decode: (j: unknown) => j });
    return kv.keys();
  }

  async function jobCount(): Promise<number> {
    return h.deps.bus.jobQueueDepth();
  }

  /** Collects a run's WatchRun stream until it ends. */
  function watch(id: string): Promise<WatchRunResponse[]> {
    return new Promise((resolve, reject) => {
      const out: WatchRunResponse[] = [];
      const call = client.watchRun({ id, fromSeq: 0n });
      call.on("data", (r: WatchRunResponse) => out.push(r));
      call.on("error", reject);
      call.on("end", () => resolve(out));
    });
  }

  test("bad input is INVALID_ARGUMENT naming the field or key, and writes nothing", async () => {
    const cases: [string, string, string][] = [
      ["request id with a space", recipe(data), "request_id"],
      ["r-yaml", "model_name_or_path: [unclosed", "(yaml)"],
      ["r-model", recipe(data).replace("preset:tiny-mamba-char", "not a model!"), "model_name_or_path"],
      ["r-format", recipe(data).replace(`${data}/prefs.jsonl`, `${data}/prefs.csv`), "datasets.prefs"],
      ["r-dotdot", recipe(data).replace(`${data}/sft.jsonl\n  prefs`, `../x.jsonl\n  prefs`), "datasets.sft-data"],
      ["r-s3dotdot", recipe(data).replace(`${data}/prefs.jsonl`, "s3://bucket/../x.jsonl"), "datasets.prefs"],
      ["r-empty", "", "recipe_yaml"],
    ];
    for (const [requestId, yaml, field] of cases) {
      const err = await rejected(yaml, requestId);
      assert.equal(err.code, 3, `${requestId}: INVALID_ARGUMENT (${err.message})`);
      assert.equal(err.details.field, field, `${requestId}: names ${field} (${err.message})`);
      assert.ok(err.message.startsWith(`${field}: `), err.message);
    }
    assert.deepEqual(await runsKvKeys(), [], "no KV entry");
    assert.deepEqual(await allKeys(h.deps), [], "no object");
    assert.equal(await jobCount(), 0, "no job");
  });

  test("StartRun twice, and concurrently, with one request_id gives one run", async () => {
    const yaml = recipe(data, "# idempotency");
    const [a, b] = await Promise.all([startRun(yaml, "same-1"), startRun(yaml, "same-1")]);
    const c = await startRun(yaml, "same-1");
    const many = await Promise.all(Array.from({ length: 5 }, () => startRun(yaml, "same.2")));
    assert.equal(a.run!.id, b.run!.id);
    assert.equal(a.run!.id, c.run!.id);
    assert.equal(new Set(many.map((r) => r.run!.id)).size, 1, "request ids with dots work too");
    assert.notEqual(many[0]!.run!.id, a.run!.id);
    const runs = (await callUnary(client.listRuns.bind(client), {})).runs.filter((r) => r.requestId.startsWith("same"));
    assert.equal(runs.length, 2);
    for (const r of runs) await callUnary(client.cancelRun.bind(client), { id: r.id });
  });

  test("a run goes SFT -> MERGE -> DPO -> EVAL on worker events, with lineage inputs, and WatchRun ends with it", async () => {
    // Stand-ins for the trainer and evaluator: pull each job from the real queue and report it done.
    const seen: { runId: string; jobId: string; input: string; evalDataset: string; questions: string }[] = [];
    const worker = (durable: string, subjects: (typeof JOB_SUBJECTS)[keyof typeof JOB_SUBJECTS][]) =>
      h.deps.bus.startJobWorker({
        durable,
        subjects,
        handler: async (job) => {
          seen.push({ runId: job.runId, jobId: job.jobId, input: job.inputVersion, evalDataset: job.evalDataset, questions: job.eval?.exactMatchDataset ?? "" });
          const base = { runId: job.runId, stage: job.stage, jobId: job.jobId, time: new Date() };
          const publish = (kind: RunEvent["kind"]) => h.deps.bus.publishEvent({ ...base, kind });
          await publish({ $case: "transition", value: { status: StageStatus.STAGE_STATUS_RUNNING, message: "", output: "" } });
          await publish({
            $case: "runtime",
            value: { time: new Date(), kind: { $case: "progress", value: { step: 1, total: 2, loss: 2.5, lr: 1e-3, tokensPerS: 10, gradNorm: 0, etaS: 1, mfu: 0, gpuMemGib: 0, extra: {} } } },
          });
          const output = job.stage === Stage.STAGE_EVAL ? `eval-${job.runId}` : `${job.outputName}/v1`;
          // An evaluation's metrics travel in its SUCCEEDED transition (no evaluator is asked for them).
          const metrics = job.stage === Stage.STAGE_EVAL ? { "eval/exact_match": job.inputVersion ? 0.75 : 0.25 } : {};
          // A trained version comes with its registry record, which the next jobs carry.
          const outputVersion = job.stage === Stage.STAGE_EVAL ? undefined : AdapterVersion.fromPartial({ id: output, parent: job.inputVersion });
          await publish({ $case: "transition", value: { status: StageStatus.STAGE_STATUS_SUCCEEDED, message: "", output, metrics, outputVersion } });
        },
      });
    const trainer = worker("itest-trainer", [JOB_SUBJECTS.train, JOB_SUBJECTS.merge]);
    const evaluator = worker("itest-evaluator", [JOB_SUBJECTS.eval]);
    try {
      const { run } = await startRun(recipe(data), "full-1");
      assert.equal(run!.startedBy, "test-admin", "the run records who started it (the principal, never the token)");
      const stream = await watch(run!.id);
      const last = stream.at(-1)!;
      assert.equal(last.run?.status, RunStatus.RUN_STATUS_SUCCEEDED, last.run?.message);
      const final: Run = await getRun(run!.id);
      const mine = seen.filter((s) => s.runId === run!.id);
      assert.equal(final.status, RunStatus.RUN_STATUS_SUCCEEDED);
      assert.deepEqual(final.stages.map((s) => s.output), ["itest-sft/v1", "itest-sft-merged/v1", "itest-dpo/v1", `eval-${run!.id}`]);
      const inputs = new Map(mine.map((s) => [s.jobId.slice(run!.id.length + 1), s.input]));
      assert.deepEqual(Object.fromEntries(inputs), {
        "sft.1": "",
        "eval-base.1": "",
        "merge.1": "itest-sft/v1",
        "eval-sft.1": "itest-sft/v1",
        "dpo.1": "itest-sft-merged/v1",
        "eval.1": "itest-dpo/v1",
      });
      const evalJob = mine.find((s) => s.jobId.endsWith(".eval.1"))!;
      assert.equal(evalJob.evalDataset, final.trainDatasetSft);
      assert.deepEqual(final.baselines.map((b) => [b.label, b.status]), [
        ["base", StageStatus.STAGE_STATUS_SUCCEEDED],
        ["sft", StageStatus.STAGE_STATUS_SUCCEEDED],
      ]);
      assert.match(final.trainDatasetSft, /^[0-9a-f]{64}$/);
      assert.equal(final.stages[0]!.metrics["train/loss"], 2.5);
      assert.equal(final.stages[0]!.totalSteps, 2);
      assert.equal(final.stages[3]!.metrics["eval/exact_match"], 0.75, "the eval stage's metrics come from its SUCCEEDED event");
      assert.deepEqual(final.baselines.map((b) => b.metrics["eval/exact_match"]), [0.25, 0.75]);
      // The run record holds the prepared question set every eval job (stage and baselines) is given.
      assert.match(final.evalQuestions, /^file:\/\/.*\/train\.jsonl$/);
      assert.deepEqual([...new Set(mine.filter((s) => s.jobId.includes(".eval")).map((s) => s.questions))], [final.evalQuestions]);
      // The stream replays every event from the start: each stage's queue, run, success.
      const transitions = stream.filter((r) => r.event?.kind?.$case === "transition" && r.event.stage !== Stage.STAGE_UNSPECIFIED);
      assert.equal(transitions.length, 4 * 3 + 2 * 2, "queued/running/succeeded per stage, running/succeeded per baseline");
      assert.ok(stream.some((r) => r.event?.kind?.$case === "runtime"));
      const keys = await allKeys(h.deps);
      assert.ok(keys.includes(`runs/${run!.id}/recipe.yaml`) && keys.includes(`runs/${run!.id}/recipe.json`));
      // Watching a finished run replays it and ends.
      assert.equal((await watch(run!.id)).at(-1)!.run?.status, RunStatus.RUN_STATUS_SUCCEEDED);

      // History that lasts: once the run's events are in the store, a purged EVENTS stream (retention, a NATS
      // wipe) still replays every one of them, in order, per stage file under the pipeline's prefix.
      const historyFiles = async () => (await allKeys(h.deps)).filter((k) => k.startsWith(`runs/${run!.id}/events/`));
      // The history consumer runs beside the one that ended the run: wait (bounded) until it has filed the end.
      const deadline = Date.now() + 10_000;
      while (!(await historyFiles()).includes(`runs/${run!.id}/events/run.jsonl`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual((await historyFiles()).sort(), ["dpo.1", "eval-base.1", "eval-sft.1", "eval.1", "merge.1", "run", "sft.1"].map((f) => `runs/${run!.id}/events/${f}.jsonl`));
      await h.deps.bus.jsm.streams.purge(EVENTS_STREAM);
      const replayed = await watch(run!.id);
      const summary = (rs: WatchRunResponse[]) => rs.map((r) => `${r.seq} ${r.event?.jobId} ${r.event?.kind?.$case}`);
      assert.deepEqual(summary(replayed), summary(stream));
      assert.equal(replayed.at(-1)!.run?.status, RunStatus.RUN_STATUS_SUCCEEDED);
      assert.equal(replayed.find((r) => r.event?.kind?.$case === "runtime")!.event!.kind!.$case, "runtime");
      // ... and `mambalign logs -f` (WatchRun underneath) prints that history and the run's end.
      const out = collect();
      const err = collect();
      assert.equal(await runCli(["--addr", h.addr, "logs", "-f", run!.id], { out, err, env: { MAMBALIGN_TOKEN: TEST_TOKENS.viewer }, cwd: h.tmp }), 0, err.text());
      assert.match(out.text(), /\[sft\] step 1\/2 +loss 2\.5000/, "a progress event from the history");
      assert.match(out.text(), /\[dpo\] succeeded -> itest-dpo\/v1[\s\S]*run succeeded/);
    } finally {
      await trainer.stop();
      await evaluator.stop();
    }
  });

  test("a dataset with rows of an unknown shape fails the run with a message naming the row", async () => {
    await fsp.writeFile(path.join(data, "odd.jsonl"), jsonl([{ text: "no messages here" }, { text: "nor here" }]));
    const yaml = recipe(data).replace(`${data}/sft.jsonl\n  prefs`, `${data}/odd.jsonl\n  prefs`);
    const { run } = await startRun(yaml, "odd-1");
    const stream = await watch(run!.id);
    const final = stream.at(-1)!.run!;
    assert.equal(final.status, RunStatus.RUN_STATUS_FAILED);
    assert.match(final.message, /preparing the sft dataset failed: .*row/);
  });

  test("CancelRun ends the run; GetRun of an unknown id is NOT_FOUND", async () => {
    const { run } = await startRun(recipe(data, "# cancel"), "cancel-1");
    const cancelled = (await callUnary(client.cancelRun.bind(client), { id: run!.id })).run!;
    assert.equal(cancelled.status, RunStatus.RUN_STATUS_CANCELLED);
    const stream = await watch(run!.id);
    assert.equal(stream.at(-1)!.run?.status, RunStatus.RUN_STATUS_CANCELLED);
    await assert.rejects(getRun("no-such-run"), (err: ApiError) => err.code === 5);
    await assert.rejects(getRun(""), (err: ApiError) => err.code === 3 && err.details.field === "id");
  });

  test("request records are not runs: GetRun/CancelRun of req.<request_id> are refused, and StartRun with that request id still works", async () => {
    const first = await startRun(recipe(data, "# request record"), "probe-1");
    for (const id of ["req.probe-1", "req.probe-2"]) {
      await assert.rejects(getRun(id), (err: ApiError) => err.code === 3 && err.details.field === "id", `GetRun ${id}`);
      await assert.rejects(callUnary(client.cancelRun.bind(client), { id }), (err: ApiError) => err.code === 3, `CancelRun ${id}`);
    }
    // The idempotency record is intact: the same request id gives the same run, a new one a new run.
    assert.equal((await startRun(recipe(data, "# request record"), "probe-1")).run!.id, first.run!.id);
    const second = await startRun(recipe(data, "# request record"), "probe-2");
    assert.notEqual(second.run!.id, first.run!.id);
    assert.ok(!(await callUnary(client.listRuns.bind(client), {})).runs.some((r) => !r.id || r.id.startsWith("req.")), "ListRuns lists runs only");
    for (const r of [first, second]) await callUnary(client.cancelRun.bind(client), { id: r.run!.id });
  });

  test("a recipe over the size limit is INVALID_ARGUMENT naming its size and the limit, and writes nothing", async () => {
    const runsBefore = await runsKvKeys();
    // A 1.2 MB chat template: a valid recipe whose run record would exceed NATS' 1 MiB message limit.
    const big = recipe(data, `chat_template: "${"{{ m }}".repeat(170_000)}"\n`);
    const err = await rejected(big, "big-1");
    assert.equal(err.code, 3, err.message);
    assert.equal(err.details.field, "recipe_yaml");
    assert.match(err.message, new RegExp(`${Buffer.byteLength(big)} bytes.*limit is \\d+ bytes`));
    assert.deepEqual(await runsKvKeys(), runsBefore, "no run record");
    // (Other runs' background work may still write: what matters is that no object lacks its run.)
    const orphans = (await allKeys(h.deps)).filter((k) => k.startsWith("runs/") && !runsBefore.includes(k.split("/")[1]!));
    assert.deepEqual(orphans, [], "no recipe.yaml or other object of a run that does not exist");
    // The request id was not used up.
    const { run } = await startRun(recipe(data, "# small again"), "big-1");
    await callUnary(client.cancelRun.bind(client), { id: run!.id });
  });

  test("the stored recipe.yaml keeps the recipe but not its hub_token or URL passwords", async () => {
    const yaml = recipe(data, "hub_token: hf_SENTINEL_tok3n_77\n# judge: https://me:SENTINEL_pw_88@judge.example/v1\n");
    const { run } = await startRun(yaml, "secret-1");
    await callUnary(client.cancelRun.bind(client), { id: run!.id });
    const stored = (await h.deps.store.get(`runs/${run!.id}/recipe.yaml`)).toString("utf8");
    assert.ok(!stored.includes("SENTINEL"), stored);
    assert.match(stored, /hub_token: <redacted>/);
    assert.match(stored, /name: itest/, "the rest of the recipe is kept");
    assert.ok(!JSON.stringify(await getRun(run!.id)).includes("SENTINEL"), "nor does the run record hold it");
  });

  test("a store that cannot take the recipe leaves no run and no object; the request id starts the run once the store is back", async (t) => {
    const runsBefore = await runsKvKeys();
    await fsp.mkdir(path.join(h.objectsDir, "runs"), { recursive: true });
    const blocked = [h.objectsDir, path.join(h.objectsDir, ".staging"), path.join(h.objectsDir, "runs")];
    await fsp.mkdir(blocked[1]!, { recursive: true });
    const restore = await makeUnwritable(blocked);
    if (!restore) return t.skip("cannot make a directory unwritable here (root without chattr +i)");
    let err: ApiError;
    try {
      err = await rejected(recipe(data, "# store down"), "store-down-1");
    } finally {
      await restore();
    }
    assert.equal(err.code, 14, `UNAVAILABLE: retry later (${err.message})`);
    assert.deepEqual(await runsKvKeys(), runsBefore, "the run record was undone");
    const { run } = await startRun(recipe(data, "# store down"), "store-down-1");
    assert.equal((await getRun(run!.id)).requestId, "store-down-1");
    await callUnary(client.cancelRun.bind(client), { id: run!.id });
  });
});
