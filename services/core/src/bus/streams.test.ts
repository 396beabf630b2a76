import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { RetentionPolicy } from "@nats-io/jetstream";
import { pino } from "pino";
import { StageJob } from "../gen/index.js";
import { type NatsServerHandle, startNatsServer } from "../../test-support/nats-server.js";
import { Bus } from "./bus.js";
import { isRetryable } from "../errors.js";
import { BusError, BusInvalidArgumentError, BusUnavailableError } from "./errors.js";
import { toBusError } from "./nats-errors.js";
import { JOB_SUBJECTS } from "./subjects.js";

let srv: NatsServerHandle;
let bus: Bus;

beforeEach(async () => {
  srv = await startNatsServer();
  bus = await Bus.connect({ servers: srv.url, name: "test", logger: pino({ level: "silent" }) });
});

afterEach(async () => {
  await bus.close();
  await srv.stop();
});

test("streams — ensureStreams creates JOBS (work queue) and EVENTS (limits) and is idempotent", async () => {
  await bus.ensureStreams();
  await bus.ensureStreams();
  const jobs = await bus.jsm.streams.info("JOBS");
  const events = await bus.jsm.streams.info("EVENTS");
  assert.equal(jobs.config.retention, RetentionPolicy.Workqueue);
  assert.deepEqual(jobs.config.subjects, ["jobs.>"]);
  assert.equal(events.config.retention, RetentionPolicy.Limits);
  assert.deepEqual(events.config.subjects, ["events.>"]);
  assert.equal(jobs.config.duplicate_window, 120e9);
});

test("streams — ensureStreams updates changed settings in place, keeping messages", async () => {
  await bus.ensureStreams();
  await bus.publishJob(JOB_SUBJECTS.train, StageJob.fromPartial({ jobId: "r.sft.1" }));
  await bus.ensureStreams({ duplicateWindowMs: 5_000, eventsMaxAgeMs: 3_600_000 });
  const jobs = await bus.jsm.streams.info("JOBS");
  assert.equal(jobs.config.duplicate_window, 5e9);
  assert.equal((await bus.jsm.streams.info("EVENTS")).config.max_age, 3_600e9);
  assert.equal(await bus.jobQueueDepth(), 1);
});

test("streams — invalid windows are refused naming the option", async () => {
  await assert.rejects(bus.ensureStreams({ duplicateWindowMs: 0 }), (e: BusInvalidArgumentError) => e.details.field === "duplicateWindowMs");
  await assert.rejects(
    bus.ensureStreams({ duplicateWindowMs: 60_000, eventsMaxAgeMs: 1_000 }),
    (e: BusInvalidArgumentError) => e.details.field === "eventsMaxAgeMs",
  );
});

test("errors — publishing before the streams exist is a retryable unavailability", async () => {
  const err = await bus.publishJob(JOB_SUBJECTS.train, StageJob.fromPartial({ jobId: "r.sft.1" })).catch((e: unknown) => e);
  assert.ok(err instanceof BusUnavailableError);
  assert.equal(err.retryable, true);
  assert.equal(err.details.subject, "jobs.train");
  assert.ok(err.cause, "keeps the NATS error as cause");
});

test("errors — a closed connection maps to BusUnavailableError; unknown errors are not retryable", async () => {
  await bus.ensureStreams();
  await bus.nc.close();
  await assert.rejects(bus.publishJob(JOB_SUBJECTS.train, StageJob.fromPartial({ jobId: "r.sft.1" })), (e: BusError) => {
    return e instanceof BusUnavailableError && isRetryable(e) && e.name === "BusUnavailableError";
  });
  const unknown = toBusError(new TypeError("boom"), "op");
  assert.equal(unknown.retryable, false);
  assert.equal(unknown.message, "op: boom");
  const already = new BusInvalidArgumentError("x");
  assert.equal(toBusError(already, "op"), already);
});

test("errors — connecting to a port with no server fails as unavailable", async () => {
  const url = srv.url;
  await srv.stop();
  await assert.rejects(Bus.connect({ servers: url, name: "t", logger: pino({ level: "silent" }) }), BusUnavailableError);
});
