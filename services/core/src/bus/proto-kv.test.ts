import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { ModelRef } from "../gen/index.js";
import { type NatsServerHandle, startNatsServer } from "../../test-support/nats-server.js";
import { Bus } from "./bus.js";
import { BusInvalidArgumentError, KvConflictError } from "./errors.js";
import { validateKvKey } from "./proto-kv.js";

let srv: NatsServerHandle;
let bus: Bus;
const codec = { encode: ModelRef.toJSON, decode: ModelRef.fromJSON };
const model = (uri: string) => ModelRef.fromPartial({ uri, revision: "main" });
let n = 0;
const bucket = () => `test-${++n}`; // a fresh bucket per test, one server for the file

before(async () => {
  srv = await startNatsServer();
  bus = await Bus.connect({ servers: srv.url, name: "test", logger: pino({ level: "silent" }) });
});

after(async () => {
  await bus.close();
  await srv.stop();
});

test("kv — create refuses an existing key; update is compare-and-set on the revision", async () => {
  const kv = await bus.kv(bucket(), codec);
  const r1 = await kv.create("run1", model("a"));
  await assert.rejects(kv.create("run1", model("b")), (e: KvConflictError) => e instanceof KvConflictError && e.retryable);

  const r2 = await kv.update("run1", model("b"), r1);
  assert.ok(r2 > r1);
  // A writer still holding r1 lost the race.
  await assert.rejects(kv.update("run1", model("c"), r1), KvConflictError);
  assert.deepEqual(await kv.get("run1"), { value: model("b"), revision: r2 });
});

test("kv — get, put, delete, keys and values", async () => {
  const kv = await bus.kv(bucket(), codec);
  assert.equal(await kv.get("missing"), null);
  await kv.put("req.x1", model("r1"));
  await kv.put("req.x2", model("r2"));
  await kv.put("run1", model("m"));
  await kv.put("requeue", model("q"));
  assert.deepEqual(await kv.keys(), ["req.x1", "req.x2", "requeue", "run1"]);
  assert.deepEqual(await kv.keys("req."), ["req.x1", "req.x2"]);
  assert.deepEqual(await kv.keys("req"), ["req.x1", "req.x2", "requeue"]);
  assert.deepEqual(await kv.values("req."), [model("r1"), model("r2")]);

  await kv.delete("req.x1");
  assert.equal(await kv.get("req.x1"), null);
  assert.deepEqual(await kv.keys("req."), ["req.x2"]);
  // A deleted key can be created again.
  assert.ok((await kv.create("req.x1", model("again"))) > 0);
});

test("kv — the bucket keeps at least 5 revisions per key", async () => {
  const name = bucket();
  await bus.kv(name, codec);
  const info = await bus.jsm.streams.info(`KV_${name}`);
  assert.ok(info.config.max_msgs_per_subject >= 5);
});

test("kv — watch yields current values, then changes and deletes, until aborted", async () => {
  const kv = await bus.kv(bucket(), codec);
  await kv.put("a", model("1"));
  const ac = new AbortController();
  const seen: Array<[string, string | null]> = [];
  for await (const e of kv.watch({ signal: ac.signal })) {
    seen.push([e.key, e.value?.uri ?? null]);
    if (seen.length === 1) await kv.put("b", model("2"));
    if (seen.length === 2) await kv.delete("a");
    if (seen.length === 3) ac.abort();
  }
  assert.deepEqual(seen, [
    ["a", "1"],
    ["b", "2"],
    ["a", null],
  ]);
});

test("kv — a stored value that does not decode names the key", async () => {
  const name = bucket();
  const strict = {
    encode: (v: string) => v,
    decode: (j: unknown) => {
      if (typeof j !== "string") throw new Error("not a string");
      return j;
    },
  };
  await (await bus.kv(name, { encode: (v: number) => v, decode: (j) => j as number })).put("k1", 42);
  const kv = await bus.kv(name, strict);
  await assert.rejects(kv.get("k1"), (e: BusInvalidArgumentError) => e instanceof BusInvalidArgumentError && e.details.key === "k1");
});

test("kv — key validation follows the NATS rules and names the key", async () => {
  for (const ok of ["run1", "req.abc-123", "a/b=c_d", "A.b.C"]) assert.equal(validateKvKey(ok), ok);
  for (const bad of ["", ".a", "a.", "a..b", "a b", "a*", "a>", "ü", "x".repeat(1025)]) {
    assert.throws(
      () => validateKvKey(bad),
      (e: BusInvalidArgumentError) => e instanceof BusInvalidArgumentError && e.details.key === bad && e.message.includes(JSON.stringify(bad)),
      `key ${JSON.stringify(bad)}`,
    );
  }
  const kv = await bus.kv(bucket(), codec);
  await assert.rejects(kv.put("bad key", model("x")), BusInvalidArgumentError);
  await assert.rejects(bus.kv("bad.bucket", codec), BusInvalidArgumentError);
});
