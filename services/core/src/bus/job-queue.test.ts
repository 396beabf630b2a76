import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { afterEach, beforeEach, test } from "node:test";
import { pino } from "pino";
import { Stage, StageJob } from "../gen/index.js";
import { type NatsServerHandle, startNatsServer } from "../../test-support/nats-server.js";
import { waitUntil } from "../../test-support/wait-until.js";
import { Bus } from "./bus.js";
import { BusConfigError, BusInvalidArgumentError } from "./errors.js";
import { JOB_SUBJECTS, type JobSubject } from "./subjects.js";

let srv: NatsServerHandle;
let bus: Bus;
let logs: Record<string, unknown>[];

beforeEach(async () => {
  srv = await startNatsServer();
  logs = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(JSON.parse(String(chunk)));
      done();
    },
  });
  bus = await Bus.connect({ servers: srv.url, name: "test", logger: pino({ level: "warn" }, sink) });
  await bus.ensureStreams();
});

afterEach(async () => {
  await bus.close();
  await srv.stop();
});

function job(id: string, stage = Stage.STAGE_SFT): StageJob {
  return StageJob.fromPartial({ jobId: id, runId: id.split(".")[0], stage, attempt: 1, outputName: "zephyr" });
}

function retryable(message: string): Error {
  return Object.assign(new Error(message), { retryable: true });
}

test("job queue — a republished job id is dropped as a duplicate", async () => {
  const first = await bus.publishJob(JOB_SUBJECTS.train, job("r1.sft.1"));
  const again = await bus.publishJob(JOB_SUBJECTS.train, job("r1.sft.1"));
  const other = await bus.publishJob(JOB_SUBJECTS.train, job("r1.sft.2"));
  assert.equal(first.duplicate, false);
  assert.deepEqual(again, { seq: first.seq, duplicate: true });
  assert.equal(other.duplicate, false);
  assert.equal(await bus.jobQueueDepth(), 2);
});

test("job queue — the payload arrives as the StageJob that was published", async () => {
  const sent = StageJob.fromPartial({
    jobId: "r2.dpo.1",
    runId: "r2",
    stage: Stage.STAGE_DPO,
    attempt: 1,
    baseModel: { uri: "state-spaces/mamba-130m-hf", revision: "main", resolved: "" },
    trainDataset: "ab".repeat(32),
  });
  await bus.publishJob(JOB_SUBJECTS.train, sent);
  let got: StageJob | undefined;
  const w = bus.startJobWorker({ durable: "trainer", subjects: [JOB_SUBJECTS.train], handler: async (j) => void (got = j) });
  await waitUntil("job", () => got !== undefined);
  await w.stop();
  assert.deepEqual(got, sent);
});

test("job queue — depth counts unfinished jobs per subject and drops on ack", async () => {
  await bus.publishJob(JOB_SUBJECTS.train, job("a.sft.1"));
  await bus.publishJob(JOB_SUBJECTS.merge, job("a.merge.1", Stage.STAGE_MERGE));
  await bus.publishJob(JOB_SUBJECTS.eval, job("b.eval.1", Stage.STAGE_EVAL));
  assert.equal(await bus.jobQueueDepth(), 3);
  assert.equal(await bus.jobQueueDepth([JOB_SUBJECTS.train, JOB_SUBJECTS.merge]), 2);
  assert.equal(await bus.jobQueueDepth([JOB_SUBJECTS.eval]), 1);

  const done: string[] = [];
  const w = bus.startJobWorker({ durable: "evaluator", subjects: [JOB_SUBJECTS.eval], handler: async (j) => void done.push(j.jobId) });
  await waitUntil("eval job acked", async () => (await bus.jobQueueDepth([JOB_SUBJECTS.eval])) === 0);
  await w.stop();
  assert.deepEqual(done, ["b.eval.1"]);
  assert.equal(await bus.jobQueueDepth(), 2);
});

test("job queue — each job goes to one of two workers, one job per worker at a time", async () => {
  const running = new Map<string, string>(); // jobId -> worker
  const handled: string[] = [];
  let release!: () => void;
  const bothRunning = new Promise<void>((r) => (release = r));
  const handler = (worker: string) => async (j: StageJob) => {
    running.set(j.jobId, worker);
    handled.push(j.jobId);
    if (running.size === 2) release();
    // Each worker holds its job until the other also has one: a worker that pulled two would hang here.
    await bothRunning;
  };
  const subjects: JobSubject[] = [JOB_SUBJECTS.train, JOB_SUBJECTS.merge];
  const a = bus.startJobWorker({ durable: "trainer", subjects, handler: handler("a") });
  const b = bus.startJobWorker({ durable: "trainer", subjects, handler: handler("b") });
  await bus.publishJob(JOB_SUBJECTS.train, job("r.sft.1"));
  await bus.publishJob(JOB_SUBJECTS.merge, job("r.merge.1", Stage.STAGE_MERGE));
  await bothRunning;
  await waitUntil("both acked", async () => (await bus.jobQueueDepth()) === 0);
  await Promise.all([a.stop(), b.stop()]);
  assert.deepEqual([...handled].sort(), ["r.merge.1", "r.sft.1"], "each job handled exactly once");
  assert.deepEqual([...running.values()].sort(), ["a", "b"], "the two jobs went to different workers");
});

test("job queue — a retryable failure is redelivered, then acked", async () => {
  const calls: number[] = [];
  const w = bus.startJobWorker({
    durable: "trainer",
    subjects: [JOB_SUBJECTS.train],
    retryBackoff: { initialMs: 20, maxMs: 20 },
    handler: async (_j, ctl) => {
      calls.push(ctl.deliveryCount);
      if (ctl.deliveryCount === 1) throw retryable("object store briefly unavailable");
    },
  });
  await bus.publishJob(JOB_SUBJECTS.train, job("r.sft.1"));
  await waitUntil("second delivery acked", async () => calls.length === 2 && (await bus.jobQueueDepth()) === 0);
  await w.stop();
  assert.deepEqual(calls, [1, 2]);
});

test("job queue — a non-retryable failure terminates the job and logs it", async () => {
  const calls: string[] = [];
  const w = bus.startJobWorker({
    durable: "trainer",
    subjects: [JOB_SUBJECTS.train],
    retryBackoff: { initialMs: 0, maxMs: 0 },
    handler: async (j) => {
      calls.push(j.jobId);
      throw Object.assign(new Error("invalid recipe: learning_rate"), { retryable: false });
    },
  });
  await bus.publishJob(JOB_SUBJECTS.train, job("r.sft.1"));
  // Terminated jobs leave the work queue: nothing is left to redeliver.
  await waitUntil("job removed", async () => calls.length === 1 && (await bus.jobQueueDepth()) === 0);
  const info = await bus.jsm.consumers.info("JOBS", "trainer");
  await w.stop();
  assert.equal(info.num_pending + info.num_ack_pending + info.num_redelivered, 0);
  assert.deepEqual(calls, ["r.sft.1"]);
  const logged = logs.find((l) => l.msg === "job failed; terminated");
  assert.ok(logged, "termination is logged");
  assert.equal(logged.jobId, "r.sft.1");
});

test("job queue — retryable failures stop at maxDeliver", async () => {
  const calls: number[] = [];
  const w = bus.startJobWorker({
    durable: "trainer",
    subjects: [JOB_SUBJECTS.train],
    maxDeliver: 2,
    retryBackoff: { initialMs: 10, maxMs: 10 },
    handler: async (_j, ctl) => {
      calls.push(ctl.deliveryCount);
      throw retryable("still failing");
    },
  });
  await bus.publishJob(JOB_SUBJECTS.train, job("r.sft.1"));
  await waitUntil("job given up", async () => calls.length === 2 && (await bus.jobQueueDepth()) === 0);
  await w.stop();
  assert.deepEqual(calls, [1, 2]);
});

test("job queue — heartbeats keep a job leased past ack_wait", async () => {
  const ackWaitMs = 300;
  const seen: Array<[string, number]> = [];
  const handler = (worker: string, holdMs: number) => async (_j: StageJob, ctl: { deliveryCount: number }) => {
    seen.push([worker, ctl.deliveryCount]);
    // Outlive the lease several times over: only working() heartbeats keep it.
    await new Promise((r) => setTimeout(r, holdMs));
  };
  const a = bus.startJobWorker({ durable: "trainer", subjects: [JOB_SUBJECTS.train], ackWaitMs, handler: handler("a", 4 * ackWaitMs) });
  await bus.publishJob(JOB_SUBJECTS.train, job("r.sft.1"));
  await waitUntil("job started", () => seen.length === 1);
  // An idle second replica would receive the job if the lease lapsed.
  const b = bus.startJobWorker({ durable: "trainer", subjects: [JOB_SUBJECTS.train], ackWaitMs, handler: handler("b", 0) });
  await waitUntil("job acked", async () => (await bus.jobQueueDepth()) === 0);
  await Promise.all([a.stop(), b.stop()]);
  assert.deepEqual(seen, [["a", 1]]);
});

test("job queue — stop aborts the handler's signal and waits for it", async () => {
  let sawAbort = false;
  let started = false;
  const w = bus.startJobWorker({
    durable: "trainer",
    subjects: [JOB_SUBJECTS.train],
    handler: async (_j, ctl) => {
      started = true;
      await new Promise<void>((r) => ctl.signal.addEventListener("abort", () => r(), { once: true }));
      sawAbort = true;
      throw retryable("preempted");
    },
  });
  await bus.publishJob(JOB_SUBJECTS.train, job("r.sft.1"));
  await waitUntil("handler running", () => started);
  await w.stop();
  assert.equal(sawAbort, true);
  assert.equal(await bus.jobQueueDepth(), 1, "an interrupted job stays queued for another worker");
});

test("job queue — overlapping work-queue consumers are refused", async () => {
  const a = bus.startJobWorker({ durable: "trainer", subjects: [JOB_SUBJECTS.train], handler: async () => {} });
  await waitUntil("consumer created", async () => (await bus.jsm.consumers.list("JOBS").next()).length === 1);
  const b = bus.startJobWorker({ durable: "other", subjects: [JOB_SUBJECTS.train, JOB_SUBJECTS.eval], handler: async () => {} });
  await assert.rejects(b.stopped, BusConfigError);
  await a.stop();
});

test("job queue — bad input names the field", async () => {
  await assert.rejects(bus.publishJob(JOB_SUBJECTS.train, job("")), (e: BusInvalidArgumentError) => e.details.field === "jobId");
  await assert.rejects(bus.publishJob("jobs.nope" as JobSubject, job("x.sft.1")), BusInvalidArgumentError);
  assert.throws(() => bus.startJobWorker({ durable: "a.b", subjects: [JOB_SUBJECTS.train], handler: async () => {} }), /durable/);
  assert.throws(() => bus.startJobWorker({ durable: "t", subjects: [], handler: async () => {} }), /subjects/);
});

test("job queue — a subject added to a durable reaches the jobs its consumer had already scanned past", async () => {
  // A rolling upgrade: the new pipeline publishes merge jobs while the old trainer (train only) is
  // still pulling, so its consumer skips them; the upgraded trainer takes merge too and must get them.
  const done: string[] = [];
  const a = bus.startJobWorker({ durable: "trainer", subjects: [JOB_SUBJECTS.train], handler: async (j) => void done.push(j.jobId) });
  const merge = await bus.publishJob(JOB_SUBJECTS.merge, job("r.merge.1", Stage.STAGE_MERGE));
  const train = await bus.publishJob(JOB_SUBJECTS.train, job("r.sft.1"));
  assert.ok(merge.seq < train.seq);
  await waitUntil("train job handled", () => done.length === 1);
  await a.stop();
  const info = await bus.jsm.consumers.info("JOBS", "trainer");
  assert.ok(info.delivered.stream_seq >= train.seq, "the old consumer had scanned past the merge job");
  const b = bus.startJobWorker({
    durable: "trainer",
    subjects: [JOB_SUBJECTS.train, JOB_SUBJECTS.merge],
    handler: async (j) => void done.push(j.jobId),
  });
  await waitUntil("merge job handled", () => done.length === 2, 15_000);
  await b.stop();
  assert.deepEqual(done, ["r.sft.1", "r.merge.1"]);
  assert.equal(await bus.jobQueueDepth(), 0);
  assert.ok(
    logs.some((l) => String(l.msg).includes("rewound") && l.durable === "trainer"),
    "the rewind is logged",
  );
});

test("job queue — a worker restarted with new settings updates its durable", async () => {
  const a = bus.startJobWorker({ durable: "trainer", subjects: [JOB_SUBJECTS.train], handler: async () => {} });
  await waitUntil("consumer created", async () => (await bus.jsm.consumers.list("JOBS").next()).length === 1);
  await a.stop();
  const done: string[] = [];
  const b = bus.startJobWorker({
    durable: "trainer",
    subjects: [JOB_SUBJECTS.train, JOB_SUBJECTS.merge],
    ackWaitMs: 5_000,
    maxDeliver: 3,
    handler: async (j) => void done.push(j.jobId),
  });
  // Published at once: a pull still pending from the stopped worker may scan past it under the old
  // filter, and the restarted worker's durable is rewound past that (the flake this test once had).
  await bus.publishJob(JOB_SUBJECTS.merge, job("r.merge.1", Stage.STAGE_MERGE));
  // That stale pull can also take the delivery once the filter matches; its inbox is gone, so it
  // comes back to this worker after ack_wait (5 s).
  await waitUntil("merge job handled", () => done.length === 1, 30_000);
  await b.stop();
  const cfg = (await bus.jsm.consumers.info("JOBS", "trainer")).config;
  assert.equal(cfg.ack_wait, 5e9);
  assert.equal(cfg.max_deliver, 3);
  assert.deepEqual(cfg.filter_subjects, [JOB_SUBJECTS.train, JOB_SUBJECTS.merge]);
});
