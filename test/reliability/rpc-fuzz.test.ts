// reliability — every RPC of every service fuzzed (issue 12): requests generated from proto/'s descriptors
// (request-arbitrary.ts), sent as wire bytes to the real services (real NATS, fs store) in one process. Each
// answer must be OK, INVALID_ARGUMENT naming a field of the request (PERMISSION_DENIED naming it for a local path
// outside the service's roots), or NOT_FOUND naming the well-formed id or key that names nothing; never a crash,
// a hang (deadline), INTERNAL or UNKNOWN; the services keep answering; no answer and no stored object ever holds
// a sentinel planted outside the data roots (path traversal). Prints the counts per service (RPC_FUZZ lines).
// FUZZ_RUNS sets the requests per service (default 10,000); FUZZ_SEED replays a failure.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createClient, fromServiceError } from "@mambalign/core";
import { startDatasetsService } from "@mambalign/datasets";
import { type HubStandIn, startHubStandIn } from "@mambalign/datasets/testing/hub-stand-in";
import { startEvaluatorService } from "@mambalign/evaluator";
import { startPipelineService } from "@mambalign/pipeline";
import { startRegistryService } from "@mambalign/registry";
import { startTrainerService } from "@mambalign/trainer";
import fc from "fast-check";
import { type Harness, startHarness } from "../e2e/harness.js";
import { fieldNames, mambalignServices, requestArb } from "./request-arbitrary.js";

const RUNS_PER_SERVICE = Number(process.env.FUZZ_RUNS ?? 10_000);
const DEADLINE_MS = 10_000;
/** A stream is read this far: enough to see it answer, not to download a model. */
const STREAM_MESSAGES = 3;

interface Answer {
  code: number;
  field?: string;
  /** The id or key a NOT_FOUND names. */
  key?: string;
  message: string;
  body: Buffer[];
}

function call(client: Client, service: DescService, m: DescMethod, bytes: Buffer): Promise<Answer> {
  const route = `/${service.typeName}/${m.name}`;
  const id = (b: Buffer) => b;
  const opts = { deadline: Date.now() + DEADLINE_MS };
  const failed = (err: ServiceError): Answer => {
    const api = fromServiceError(err);
    return { code: api.code, field: api.details.field, key: api.details.key, message: api.message, body: [] };
  };
  if (m.methodKind === "unary") {
    return new Promise((resolve) => {
      client.makeUnaryRequest(route, id, id, bytes, new Metadata(), opts, (err, res) => resolve(err ? failed(err) : { code: status.OK, message: "", body: [res!] }));
    });
  }
  return new Promise((resolve) => {
    const body: Buffer[] = [];
    const stream = client.makeServerStreamRequest(route, id, id, bytes, new Metadata(), opts);
    let done = false;
    stream.on("data", (b: Buffer) => {
      body.push(b);
      if (body.length >= STREAM_MESSAGES && !done) {
        done = true;
        stream.cancel();
        resolve({ code: status.OK, message: "", body });
      }
    });
    stream.on("error", (err: ServiceError) => {
      if (!done) resolve(err.code === status.CANCELLED && body.length ? { code: status.OK, message: "", body } : failed(err));
      done = true;
    });
    stream.on("end", () => {
      if (!done) resolve({ code: status.OK, message: "", body });
      done = true;
    });
  });
}

describe("reliability — RPC fuzz", { timeout: 1_800_000 }, () => {
  let h: Harness;
  let client: Client;
  let secretDir: string;
  let sentinel: string;
  let extra: string[];
  const counts: Record<string, { requests: number; ok: number; invalid: number; permissionDenied: number; notFound: number; other: Record<string, number> }> = {};

  let hub: HubStandIn;

  before(async () => {
    // A Hub with no dataset: a Hub-shaped source ("org/name") is looked up there, never on the internet.
    hub = await startHubStandIn({});
    h = await startHarness(async (deps) => [
      await startRegistryService(deps),
      await startDatasetsService(deps, { hub: { endpoint: hub.url, token: "", attempts: 1, backoffMs: 1 } }),
      await startPipelineService(deps),
      await startTrainerService(deps, { workerId: "fuzz" }),
      await startEvaluatorService(deps),
    ]);
    client = createClient(Client, h.addr);
    // A valid SFT file inside the data roots, and a sentinel one outside them (beside the harness's folder).
    sentinel = `sentinel-${randomBytes(8).toString("hex")}`;
    const row = (text: string) => JSON.stringify({ messages: [{ role: "user", content: text }, { role: "assistant", content: text }] });
    await fsp.writeFile(path.join(h.tmp, "ok.jsonl"), `${row("hello")}\n${row("world")}\n`);
    secretDir = await fsp.mkdtemp(`${h.tmp}-secret-`);
    const secret = path.join(secretDir, "secret.jsonl");
    await fsp.writeFile(secret, `${row(sentinel)}\n`);
    const fromStore = path.relative(h.objectsDir, secret);
    extra = [path.join(h.tmp, "ok.jsonl"), secret, `file://${secret}`, fromStore, `${path.basename(h.tmp)}/../${path.basename(secretDir)}/secret.jsonl`, `../${path.basename(secretDir)}/secret.jsonl`, h.tmp, h.objectsDir];
  });
  after(async () => {
    client?.close();
    await h?.stop();
    await hub?.close();
    if (secretDir) await fsp.rm(secretDir, { recursive: true, force: true });
    for (const [svc, c] of Object.entries(counts)) console.log(`RPC_FUZZ ${JSON.stringify({ service: svc, ...c })}`);
  });

  for (const service of mambalignServices()) {
    test(`${service.name}: ${RUNS_PER_SERVICE} generated requests over its ${service.methods.length} RPCs, every answer deliberate`, async () => {
      const c = (counts[service.name] = { requests: 0, ok: 0, invalid: 0, permissionDenied: 0, notFound: 0, other: {} as Record<string, number> });
      const perMethod = Math.ceil(RUNS_PER_SERVICE / service.methods.length);
      for (const m of service.methods) {
        const fields = fieldNames(m.input);
        const recipe = [...fields].some((f) => f.endsWith("_yaml"));
        const r = await fc.check(
          fc.asyncProperty(requestArb(m.input, extra), async ({ bytes }) => {
            const a = await call(client, service, m, bytes);
            c.requests++;
            for (const b of a.body) assert.ok(!b.includes(sentinel), `${m.name} answered with the sentinel`);
            assert.ok(!a.message.includes(sentinel), `${m.name}: error message quotes the sentinel file`);
            if (a.code === status.OK) return void c.ok++;
            if (a.code === status.NOT_FOUND) {
              c.notFound++;
              assert.ok(a.key || a.field, `${m.name}: NOT_FOUND names neither the id nor the field: ${a.message}`);
              return;
            }
            // INVALID_ARGUMENT, or PERMISSION_DENIED for a local path outside the service's roots: naming the field.
            if (a.code === status.INVALID_ARGUMENT || a.code === status.PERMISSION_DENIED) {
              if (a.code === status.INVALID_ARGUMENT) c.invalid++;
              else c.permissionDenied++;
              assert.ok(a.field, `${m.name}: ${status[a.code]} names no field: ${a.message}`);
              // A recipe's errors name the recipe key at fault (e.g. sft.learning_rate), inside recipe_yaml.
              const head = a.field.split(/[.[]/)[0]!;
              assert.ok(recipe || fields.has(head), `${m.name}: ${status[a.code]} names ${a.field}, not a field of ${m.input.name}: ${a.message}`);
              return;
            }
            c.other[status[a.code]!] = (c.other[status[a.code]!] ?? 0) + 1;
            assert.fail(`${m.name}: ${status[a.code]} ${a.message}`);
          }),
          { numRuns: perMethod, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
        );
        if (r.failed) {
          // The counterexample bounded (a 300 KB id is a common one), with what replays it.
          const example = JSON.stringify(r.counterexample?.[0]?.init, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : typeof v === "string" && v.length > 80 ? `${v.slice(0, 80)}...(${v.length} chars)` : v));
          assert.fail(`${(r.errorInstance as Error | undefined)?.message}\ncounterexample: ${example}\nreplay: FUZZ_SEED=${r.seed} (path ${r.counterexamplePath})`);
        }
        // Still answering after its fuzz: a health check through the same channel.
        const health = await new Promise<number>((resolve) =>
          client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new Metadata(), { deadline: Date.now() + 5_000 }, (err) => resolve(err ? err.code : status.OK)),
        );
        assert.equal(health, status.OK, `the server answers after ${m.name}'s fuzz`);
      }
      assert.ok(c.requests >= RUNS_PER_SERVICE);
    });
  }

  test("no stored object holds the sentinel from outside the data roots, and nothing was written beside it", async () => {
    assert.deepEqual(await fsp.readdir(secretDir), ["secret.jsonl"], "no export or upload landed outside the roots");
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if ((await fsp.readFile(p)).includes(sentinel)) found.push(p);
      }
    };
    await walk(h.objectsDir);
    assert.deepEqual(found, []);
  });
});
