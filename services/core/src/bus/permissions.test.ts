// bus permissions — against the real nats-server run with each service's user (as `mambalign up` and the
// chart run it): a service can do its own work and is refused anything else; anonymous clients are refused.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { RunEvent, Stage, StageJob, StageStatus } from "../gen/index.js";
import { type NatsServerHandle, startNatsServer } from "../../test-support/nats-server.js";
import { waitUntil } from "../../test-support/wait-until.js";
import { Bus } from "./bus.js";
import { BusPermissionError } from "./errors.js";
import { toBusError } from "./nats-errors.js";
import type { BusUser } from "./permissions.js";
import { JOB_SUBJECTS } from "./subjects.js";

let srv: NatsServerHandle;
const buses: Bus[] = [];

before(async () => {
  srv = await startNatsServer({ auth: true });
});

after(async () => {
  for (const b of buses) await b.close();
  await srv.stop();
});

async function busAs(user: BusUser): Promise<Bus> {
  const bus = await Bus.connect({ servers: srv.url, name: user, logger: pino({ level: "silent" }), credentials: srv.credentials![user] });
  buses.push(bus);
  return bus;
}

async function refused(what: string, p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => assert.fail(`${what} should be refused`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BusPermissionError, `${what}: ${String(err)}`);
}

const job = (id: string) => StageJob.fromPartial({ jobId: id, runId: id.split(".")[0], stage: Stage.STAGE_SFT, attempt: 1, outputName: "zephyr" });

test("bus permissions — a client without credentials is refused", async () => {
  await refused("anonymous connect", Bus.connect({ servers: srv.url, name: "anon", logger: pino({ level: "silent" }) }));
  const wrong = { user: "trainer", password: "not-the-password" };
  await refused("wrong password", Bus.connect({ servers: srv.url, name: "t", logger: pino({ level: "silent" }), credentials: wrong }));
});

test("bus permissions — pipeline → trainer → pipeline works: a job is pulled, its event is consumed", async () => {
  const pipeline = await busAs("pipeline");
  await pipeline.ensureStreams();
  const trainer = await busAs("trainer");
  await trainer.ensureStreams();
  let worker: { stop(): Promise<void> } | undefined;
  const got = new Promise<StageJob>((resolve) => {
    worker = trainer.startJobWorker({ durable: "trainer", subjects: [JOB_SUBJECTS.train, JOB_SUBJECTS.merge], handler: async (j) => resolve(j) });
  });
  await pipeline.publishJob(JOB_SUBJECTS.train, job("p1.sft.1"));
  assert.equal((await got).jobId, "p1.sft.1");
  await worker?.stop();
  await trainer.publishEvent(RunEvent.fromPartial({ runId: "p1", jobId: "p1.sft.1", stage: Stage.STAGE_SFT, kind: { $case: "transition", value: { status: StageStatus.STAGE_STATUS_RUNNING } } }));
  const seen = new Promise<string>((resolve) => {
    pipeline.consumeEvents({ durable: "pipeline", handler: async (_seq, ev) => resolve(ev.jobId) });
  });
  assert.equal(await seen, "p1.sft.1");
  // Each service's own KV bucket opens and takes writes.
  const workers = await trainer.kv("workers", { encode: (v: string) => ({ v }), decode: (j) => (j as { v: string }).v });
  await workers.put("w1", "idle");
  assert.deepEqual(await workers.keys(), ["w1"]);
});

test("bus permissions — an upgraded trainer rewinds its own durable past skipped jobs, and no one else's", async () => {
  const pipeline = await busAs("pipeline");
  await pipeline.ensureStreams();
  const trainer = await busAs("trainer");
  const done: string[] = [];
  const old = trainer.startJobWorker({ durable: "trainer", subjects: [JOB_SUBJECTS.train], handler: async (j) => void done.push(j.jobId) });
  await pipeline.publishJob(JOB_SUBJECTS.merge, StageJob.fromPartial({ ...job("u1.merge.1"), stage: Stage.STAGE_MERGE }));
  await pipeline.publishJob(JOB_SUBJECTS.train, job("u1.sft.1"));
  await waitUntil("the train job handled", () => done.length === 1, 15_000);
  await old.stop();
  const upgraded = trainer.startJobWorker({
    durable: "trainer",
    subjects: [JOB_SUBJECTS.train, JOB_SUBJECTS.merge],
    handler: async (j) => void done.push(j.jobId),
  });
  await waitUntil("the merge job handled", () => done.length === 2, 15_000);
  await upgraded.stop();
  assert.deepEqual(done, ["u1.sft.1", "u1.merge.1"]);
  const evaluator = await busAs("evaluator");
  const evalWorker = evaluator.startJobWorker({ durable: "evaluator", subjects: [JOB_SUBJECTS.eval], handler: async () => {} });
  await waitUntil("the evaluator's durable", async () => Boolean(await evaluator.jsm.consumers.info("JOBS", "evaluator").catch(() => null)), 15_000);
  await refused("trainer resetting the evaluator's durable", trainer.jsm.consumers.reset("JOBS", "evaluator").catch((e: unknown) => {
    throw toBusError(e, "reset");
  }));
  await evalWorker.stop();
});

test("bus permissions — the trainer cannot publish a job, nor write another service's KV bucket", async () => {
  const trainer = await busAs("trainer");
  await refused("trainer publishing on jobs.train", trainer.publishJob(JOB_SUBJECTS.train, job("forged.sft.1")));
  await refused("trainer publishing on jobs.eval", trainer.publishJob(JOB_SUBJECTS.eval, job("forged.eval.1")));
  // A forged run record: the pipeline's bucket is not the trainer's.
  await refused("trainer opening the runs bucket", trainer.kv("runs", { encode: (v: string) => v, decode: (j) => String(j) }));
  const evaluator = await busAs("evaluator");
  await refused("evaluator publishing on jobs.train", evaluator.publishJob(JOB_SUBJECTS.train, job("forged.sft.2")));
  const datasets = await busAs("datasets");
  await refused("datasets publishing a run event", datasets.publishEvent(RunEvent.fromPartial({ runId: "p1", jobId: "p1.sft.1" })));
});

test("bus permissions — a service cannot read another's inbox (JetStream answers, pulled jobs)", async () => {
  const creds = srv.credentials!.trainer;
  const nc = await connect({ servers: srv.url, user: creds.user, pass: creds.password });
  try {
    const errors: string[] = [];
    (async () => {
      for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    nc.subscribe("_INBOX_pipeline.>");
    nc.subscribe("_INBOX.>");
    await nc.flush();
    // The server answers each refused subscription with a permissions violation.
    for (let i = 0; i < 100 && errors.length < 2; i++) await nc.flush();
    assert.equal(errors.length, 2, errors.join("; "));
    assert.ok(errors.every((e) => /permissions violation/i.test(e)), errors.join("; "));
  } finally {
    await nc.close();
  }
});

test("bus permissions — each service opens its own KV buckets and no other's; kube reads the queue depth only", async () => {
  const codec = { encode: (v: string) => ({ v }), decode: (j: unknown) => (j as { v: string }).v };
  const own: Record<Exclude<BusUser, "kube">, string[]> = {
    datasets: ["datasets"],
    registry: ["adapters"],
    trainer: ["workers"],
    evaluator: ["evals"],
    pipeline: ["runs", "run-requests"],
  };
  const all = Object.values(own).flat();
  for (const [user, buckets] of Object.entries(own) as [BusUser, string[]][]) {
    const bus = await busAs(user);
    for (const b of buckets) {
      const kv = await bus.kv(b, codec);
      await kv.put("k", user);
      assert.equal((await kv.get("k"))?.value, user, `${user} reads back ${b}`);
    }
    for (const b of all.filter((x) => !buckets.includes(x))) await refused(`${user} opening ${b}`, bus.kv(b, codec));
  }
  const kube = await busAs("kube");
  assert.equal(typeof (await kube.jobQueueDepth()), "number");
  await refused("kube publishing a job", kube.publishJob(JOB_SUBJECTS.train, job("k.sft.1")));
  await refused("kube opening runs", kube.kv("runs", codec));
});
