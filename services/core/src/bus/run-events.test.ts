import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { pino } from "pino";
import { RunEvent, Stage, StageStatus } from "../gen/index.js";
import { type NatsServerHandle, startNatsServer } from "../../test-support/nats-server.js";
import { waitUntil } from "../../test-support/wait-until.js";
import { Bus } from "./bus.js";
import { BusInvalidArgumentError } from "./errors.js";

let srv: NatsServerHandle;
let bus: Bus;

beforeEach(async () => {
  srv = await startNatsServer();
  bus = await Bus.connect({ servers: srv.url, name: "test", logger: pino({ level: "silent" }) });
  await bus.ensureStreams();
});

afterEach(async () => {
  await bus.close();
  await srv.stop();
});

function log(runId: string, message: string): RunEvent {
  return RunEvent.fromPartial({
    runId,
    stage: Stage.STAGE_SFT,
    jobId: `${runId}.sft.1`,
    time: new Date("2026-01-02T03:04:05.000Z"),
    kind: { $case: "log", value: { level: "info", message } },
  });
}

test("run events — watch replays one run from a sequence, then follows live events", async () => {
  const s1 = await bus.publishEvent(log("run1", "a"));
  const s2 = await bus.publishEvent(log("run1", "b"));
  await bus.publishEvent(log("run2", "other run"));
  const s3 = await bus.publishEvent(log("run1", "c"));
  assert.ok(s1 < s2 && s2 < s3);

  const ac = new AbortController();
  const got: Array<{ seq: number; event: RunEvent }> = [];
  let live = 0;
  const watching = (async () => {
    for await (const e of bus.watchEvents("run1", { fromSeq: s2, signal: ac.signal })) {
      got.push(e);
      if (got.length === 2) {
        // Replay done: this one can only arrive live.
        live = await bus.publishEvent(
          RunEvent.fromPartial({
            runId: "run1",
            stage: Stage.STAGE_SFT,
            kind: { $case: "transition", value: { status: StageStatus.STAGE_STATUS_SUCCEEDED, output: "v1", message: "" } },
          }),
        );
      }
      if (got.length === 3) ac.abort();
    }
  })();
  await watching; // ends on abort
  assert.deepEqual(
    got.map((e) => e.seq),
    [s2, s3, live],
  );
  assert.deepEqual(got[0]?.event, log("run1", "b"));
  assert.equal(got[2]?.event.kind?.$case, "transition");
});

test("run events — watch without fromSeq starts at the run's first event", async () => {
  await bus.publishEvent(log("run1", "a"));
  await bus.publishEvent(log("run1", "b"));
  const ac = new AbortController();
  const messages: string[] = [];
  for await (const { event } of bus.watchEvents("run1", { signal: ac.signal })) {
    if (event.kind?.$case === "log") messages.push(event.kind.value.message);
    if (messages.length === 2) ac.abort();
  }
  assert.deepEqual(messages, ["a", "b"]);
});

test("run events — durable consumer sees every run's events and retries retryable failures", async () => {
  const seen: string[] = [];
  let failedOnce = false;
  const c = bus.consumeEvents({
    durable: "pipeline",
    retryBackoff: { initialMs: 10, maxMs: 10 },
    handler: async (_seq, event) => {
      const msg = event.kind?.$case === "log" ? event.kind.value.message : "?";
      if (msg === "b" && !failedOnce) {
        failedOnce = true;
        throw Object.assign(new Error("kv conflict"), { retryable: true });
      }
      seen.push(`${event.runId}:${msg}`);
    },
  });
  await bus.publishEvent(log("run1", "a"));
  await bus.publishEvent(log("run2", "b"));
  await waitUntil("both handled", () => seen.length === 2);
  await c.stop();
  assert.deepEqual(seen.sort(), ["run1:a", "run2:b"]);
  const info = await bus.jsm.consumers.info("EVENTS", "pipeline");
  assert.equal(info.num_ack_pending + info.num_pending, 0, "all acked");

  // A restarted consumer resumes after the last ack instead of replaying.
  await bus.publishEvent(log("run1", "c"));
  const again: string[] = [];
  const c2 = bus.consumeEvents({
    durable: "pipeline",
    handler: async (_seq, e) => void again.push(e.kind?.$case === "log" ? e.kind.value.message : "?"),
  });
  await waitUntil("new event handled", () => again.length === 1);
  await c2.stop();
  assert.deepEqual(again, ["c"]);
});

test("run events — a run id that is not one subject token is refused", async () => {
  await assert.rejects(bus.publishEvent(log("run.1", "x")), (e: BusInvalidArgumentError) => e.details.field === "runId");
  await assert.rejects(async () => {
    for await (const _ of bus.watchEvents("a*")) break;
  }, BusInvalidArgumentError);
});
