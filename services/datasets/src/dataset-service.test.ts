import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  type ApiError,
  callUnary,
  createClient,
  DatasetKind,
  DatasetServiceClient,
  type DatasetVersion,
  type GrpcServerHandle,
  type PrepareDatasetRequest,
} from "@mambalign/core";
import { DatasetCatalog } from "./dataset-catalog.js";
import { datasetServiceBinding } from "./dataset-service.js";
import { datasetsOptionsFromEnv } from "./datasets-options.js";
import { MAX_MESSAGE_CHARS } from "./rows.js";
import { listKeys, serveBindings, startTestEnv, type TestEnv } from "../test-support/test-env.js";
import { alpacaParquet, shareGptParquet, ultrachatParquet } from "../test-support/parquet-fixtures.js";

const SFT = DatasetKind.DATASET_KIND_SFT;
const PREF = DatasetKind.DATASET_KIND_PREFERENCE;

function sftLine(i: number): string {
  return JSON.stringify({ messages: [{ role: "user", content: `reverse w${i}` }, { role: "assistant", content: `${i}w` }] });
}
function prefLine(i: number): string {
  return JSON.stringify({
    prompt: `add ${i}+1`,
    chosen: [{ role: "user", content: `add ${i}+1` }, { role: "assistant", content: `${i + 1}` }],
    rejected: [{ role: "user", content: `add ${i}+1` }, { role: "assistant", content: `${i + 2}` }],
    prompt_id: `p${i}`,
  });
}
const lines = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join("\n") + "\n";

async function withService(env: TestEnv) {
  const options = { ...datasetsOptionsFromEnv({}), workDir: path.join(env.tmp, "work") };
  const server: GrpcServerHandle = await serveBindings(env.deps, [await datasetServiceBinding(env.deps, options)]);
  const client = createClient(DatasetServiceClient, `127.0.0.1:${server.port}`);
  const call = {
    prepare: (req: Partial<PrepareDatasetRequest>) =>
      callUnary(client.prepareDataset.bind(client), { sources: [], kind: SFT, testFraction: 0, seed: 0, name: "", splits: [], ...req, ...(req.splits ? { splits: req.splits } : {}) }).then(
        (r) => r.dataset as DatasetVersion,
      ),
    get: (id: string) => callUnary(client.getDataset.bind(client), { id }).then((r) => r.dataset as DatasetVersion),
    list: () => callUnary(client.listDatasets.bind(client), {}).then((r) => r.datasets),
    card: (id: string) => callUnary(client.getDatasetCard.bind(client), { id }),
  };
  return {
    call,
    close: async () => {
      client.close();
      await server.close(1000);
    },
  };
}

function rejectsWith(code: status, check: (e: ApiError) => void) {
  return (err: ApiError) => {
    assert.equal(err.code, code, err.message);
    check(err);
    return true;
  };
}

async function readJsonl(env: TestEnv, key: string): Promise<Record<string, unknown>[]> {
  const text = (await env.deps.store.get(key)).toString("utf8");
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("datasets service — local files on the fs store", () => {
  let env: TestEnv;
  let svc: Awaited<ReturnType<typeof withService>>;
  before(async () => {
    env = await startTestEnv("fs");
    svc = await withService(env);
  });
  after(async () => {
    await svc?.close();
    await env?.stop();
  });
  const file = async (name: string, text: string) => {
    const p = path.join(env.tmp, name);
    await fsp.writeFile(p, text);
    return p;
  };

  it("prepares SFT JSONL into train/test/quarantine/card with a manifest, and names the latest version", async () => {
    const src = await file("sft.jsonl", lines(40, sftLine));
    const v = await svc.call.prepare({ sources: [{ uri: src, fraction: 0 }], testFraction: 0.25, seed: 7, name: "rev-sft" });
    assert.match(v.id, /^[0-9a-f]{64}$/);
    assert.equal(v.kind, SFT);
    const [train, test] = v.splits;
    assert.equal(train?.rows! + test?.rows!, 40);
    assert.ok(test!.rows > 0 && train!.rows > test!.rows, `split ${train?.rows}/${test?.rows}`);
    assert.equal(v.quarantinedRows, 0);
    assert.equal(v.quarantineKey, "");
    const keys = await listKeys(env.deps, `datasets/${v.id}/`);
    assert.deepEqual(keys.map((k) => k.slice(`datasets/${v.id}/`.length)).sort(), ["card.json", "manifest.json", "quarantine.jsonl", "test.jsonl", "train.jsonl"]);
    const rows = await readJsonl(env, train!.key);
    const source = new Set(Array.from({ length: 40 }, (_, i) => sftLine(i)));
    assert.ok(rows.every((r) => source.has(JSON.stringify(r))), "train rows are the normalised source rows");
    const card = JSON.parse((await env.deps.store.get(`datasets/${v.id}/card.json`)).toString()) as { id: string; splits: { test: { rows: number } } };
    assert.equal(card.id, v.id);
    assert.equal(card.splits.test.rows, test!.rows);
    assert.deepEqual(await svc.call.get(v.id), v);
    assert.deepEqual(await svc.call.get("rev-sft"), v, "a name resolves to its latest version");
    const shown = await svc.call.card("rev-sft");
    assert.equal((JSON.parse(shown.cardJson) as { id: string }).id, v.id);
    assert.match(shown.text, new RegExp(`train ${train!.rows} rows, test ${test!.rows} rows`));
  });

  it("quarantines bad rows with source, 1-based row number and reason; good rows go on", async () => {
    const text = [sftLine(1), "{not json", JSON.stringify({ messages: [{ role: "user", content: "q" }] }), "", sftLine(2), JSON.stringify({ messages: [{ role: "bot", content: "x" }] })].join("\n");
    const src = await file("mixed.jsonl", text);
    const v = await svc.call.prepare({ sources: [{ uri: src, fraction: 0 }], seed: 1 });
    assert.equal(v.quarantinedRows, 3);
    assert.equal(v.splits[0]?.rows, 2);
    assert.deepEqual(
      v.quarantineSample.map((q) => [q.source, q.row]),
      [[src, 2], [src, 3], [src, 6]],
    );
    assert.match(v.quarantineSample[0]!.reason, /^not JSON/);
    assert.equal(v.quarantineSample[1]!.reason, "messages: has no assistant turn");
    assert.equal(v.quarantineSample[2]!.reason, "messages[0].role: must be one of system, user, assistant");
    assert.equal(v.quarantineKey, `datasets/${v.id}/quarantine.jsonl`);
    const q = await readJsonl(env, v.quarantineKey);
    assert.deepEqual(q.map((r) => [r.source, r.row, r.line]), [[src, 2, "{not json"], [src, 3, text.split("\n")[2]], [src, 6, text.split("\n")[5]]]);
  });

  it("quarantines every malformed row kind (bad JSON, invalid UTF-8, a 1 MB message, unknown roles, empty conversations) with counts, and keeps answering", async () => {
    const huge = JSON.stringify({ messages: [{ role: "user", content: "q" }, { role: "assistant", content: "x".repeat(1024 * 1024) }] });
    const lines = [
      Buffer.from(sftLine(1)),
      Buffer.from('{"messages": [{"role": "user"'),
      Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      Buffer.from(huge),
      Buffer.from(JSON.stringify({ messages: [{ role: "wizard", content: "x" }, { role: "assistant", content: "y" }] })),
      Buffer.from(JSON.stringify({ messages: [] })),
      Buffer.from(JSON.stringify({ conversations: [] })),
      Buffer.from(sftLine(2)),
    ];
    const src = path.join(env.tmp, "malformed.jsonl");
    await fsp.writeFile(src, Buffer.concat(lines.flatMap((l) => [l, Buffer.from("\n")])));
    const v = await svc.call.prepare({ sources: [{ uri: src, fraction: 0 }], seed: 1 });
    assert.equal(v.splits[0]?.rows, 2, "the good rows go on");
    assert.equal(v.quarantinedRows, 6);
    assert.deepEqual(
      v.quarantineSample.map((q) => [q.row, q.reason.replace(/^not JSON.*/, "not JSON")]),
      [
        [2, "not JSON"],
        [3, "not valid UTF-8 text"],
        [4, `messages[1].content: longer than ${MAX_MESSAGE_CHARS} characters`],
        [5, "messages[0].role: must be one of system, user, assistant"],
        [6, "messages: must not be empty"],
        [7, "conversations: must not be empty"],
      ],
    );
    assert.ok(v.quarantineSample.every((q) => q.reason.length < 1_000), "reasons do not echo the row");
    const q = await readJsonl(env, v.quarantineKey);
    assert.deepEqual(q.map((r) => r.row), [2, 3, 4, 5, 6, 7], "every quarantined row kept, none lost");
    assert.ok((await svc.call.list()).some((d) => d.id === v.id), "the service still answers");
  });

  it("quarantines a row that is not valid UTF-8 by its row number instead of keeping replacement characters", async () => {
    const latin1 = Buffer.from(`{"messages": [{"role": "user", "content": "caf\xe9"}, {"role": "assistant", "content": "ok"}]}`, "latin1");
    const src = path.join(env.tmp, "latin1.jsonl");
    await fsp.writeFile(src, Buffer.concat([Buffer.from(`${sftLine(1)}\n`), latin1, Buffer.from(`\n${sftLine(2)}\n`)]));
    const v = await svc.call.prepare({ sources: [{ uri: src, fraction: 0 }], seed: 1 });
    assert.equal(v.quarantinedRows, 1);
    assert.deepEqual(v.quarantineSample.map((q) => [q.source, q.row, q.reason]), [[src, 2, "not valid UTF-8 text"]]);
    const train = (await env.deps.store.get(v.splits[0]!.key)).toString("utf8");
    assert.equal(v.splits[0]!.rows, 2);
    assert.ok(!train.includes("\ufffd"), "no replacement character in the training rows");
  });

  it("PrepareDataset reads local files only under the data roots: /proc/self/environ, .. and symbolic links out are refused", async () => {
    const outside = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-not-a-root-"));
    try {
      const key = path.join(outside, "id_rsa.jsonl");
      await fsp.writeFile(key, lines(3, sftLine));
      await fsp.symlink(key, path.join(env.tmp, "link.jsonl"));
      await fsp.symlink(outside, path.join(env.tmp, "dir-link"));
      const before = await listKeys(env.deps, "datasets/");
      for (const [uri, code] of [
        ["/proc/self/environ", status.PERMISSION_DENIED],
        [key, status.PERMISSION_DENIED],
        [`file://${key}`, status.PERMISSION_DENIED],
        [`${env.tmp}/../${path.basename(outside)}/id_rsa.jsonl`, status.INVALID_ARGUMENT],
        [path.join(env.tmp, "link.jsonl"), status.PERMISSION_DENIED],
        [path.join(env.tmp, "dir-link", "id_rsa.jsonl"), status.PERMISSION_DENIED],
        [path.join(outside, "absent.jsonl"), status.PERMISSION_DENIED], // outside: not even whether it exists
      ] as const) {
        await assert.rejects(
          svc.call.prepare({ sources: [{ uri, fraction: 0 }], kind: DatasetKind.DATASET_KIND_UNSPECIFIED }),
          rejectsWith(code, (e) => {
            assert.equal(e.details.field, "sources[0].uri", e.message);
            assert.ok(!e.message.includes("reverse"), e.message);
          }),
          uri,
        );
      }
      assert.deepEqual(await listKeys(env.deps, "datasets/"), before, "nothing read into the store");
    } finally {
      await fsp.rm(outside, { recursive: true, force: true });
    }
  });

  it("parse errors name the file and row but never echo the row's content", async () => {
    const secret = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5SENTINELKEY user@host";
    const src = await file("id_ed25519.jsonl", `${secret}\n{"SENTINEL2": \n`);
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: src, fraction: 0 }], kind: DatasetKind.DATASET_KIND_UNSPECIFIED }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => {
        assert.ok(e.message.includes(src), e.message);
        assert.match(e.message, /row 1: not JSON.*row 2: not JSON/);
        assert.ok(!/SENTINEL|AAAA|ssh-/.test(e.message + JSON.stringify(e.details)), e.message);
      }),
    );
  });

  it("an unknown format or all-bad source fails with INVALID_ARGUMENT naming source and row, and writes nothing", async () => {
    const before = await listKeys(env.deps, "datasets/");
    const beforeList = await svc.call.list();
    const csv = await file("data.csv", "question,answer\n1+1,2\n");
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: csv, fraction: 0 }], kind: DatasetKind.DATASET_KIND_UNSPECIFIED, name: "nope" }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => {
        assert.equal(e.details.field, "sources[0].uri");
        assert.equal(e.details.row, 1);
        assert.ok(e.message.includes(csv), e.message);
        assert.match(e.message, /row 1: not JSON.*row 2: not JSON/);
      }),
    );
    const qa = await file("qa.jsonl", lines(3, (i) => JSON.stringify({ question: `q${i}`, answer: "a" })));
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: qa, fraction: 0 }], kind: DatasetKind.DATASET_KIND_UNSPECIFIED }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.match(e.message, /row 1: unknown format/)),
    );
    // A good first source does not rescue a second source whose every row is bad (rows missing fields).
    const good = await file("good.jsonl", lines(3, sftLine));
    const bad = await file("missing.jsonl", lines(3, (i) => JSON.stringify({ messages: [{ role: "assistant" }], i })));
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: good, fraction: 0 }, { uri: bad, fraction: 0 }] }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => {
        assert.equal(e.details.field, "sources[1].uri");
        assert.match(e.message, /row 1: messages\[0\]\.content: missing/);
      }),
    );
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: path.join(env.tmp, "absent.jsonl"), fraction: 0 }] }),
      rejectsWith(status.NOT_FOUND, (e) => assert.equal(e.details.field, "sources[0].uri")),
    );
    assert.deepEqual(await listKeys(env.deps, "datasets/"), before);
    assert.deepEqual(await svc.call.list(), beforeList);
    await assert.rejects(svc.call.get("nope"), rejectsWith(status.NOT_FOUND, () => {}));
  });

  it("rejects keys and names that could escape their prefix, naming the field, before writing", async () => {
    const before = await listKeys(env.deps, "");
    const src = await file("ok.jsonl", lines(2, sftLine));
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: src, fraction: 0 }], name: "../x" }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "name")),
    );
    await assert.rejects(svc.call.get("../x"), rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "id")));
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: "s3://mambalign/../x", fraction: 0 }] }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "sources[0].uri")),
    );
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: src, fraction: 1.5 }] }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "sources[0].fraction")),
    );
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: src, fraction: 0 }], testFraction: 1 }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "test_fraction")),
    );
    assert.deepEqual(await listKeys(env.deps, ""), before);
  });

  it("the same input gives the same id without rewriting; the split is deterministic by seed and content", async () => {
    const src = await file("det.jsonl", lines(60, sftLine));
    const req = { sources: [{ uri: src, fraction: 0 }], testFraction: 0.3, seed: 42 };
    const a = await svc.call.prepare(req);
    const manifest = await env.deps.store.get(`datasets/${a.id}/manifest.json`);
    const b = await svc.call.prepare(req);
    assert.deepEqual(b, a);
    assert.deepEqual(await env.deps.store.get(`datasets/${a.id}/manifest.json`), manifest, "manifest not rewritten");
    // Same rows in another order: each row stays in its split (hash-based), so no leakage.
    const shuffled = await file("det-rev.jsonl", lines(60, (i) => sftLine(59 - i)));
    const c = await svc.call.prepare({ ...req, sources: [{ uri: shuffled, fraction: 0 }] });
    const testOf = async (v: DatasetVersion) => new Set((await readJsonl(env, v.splits[1]!.key)).map((r) => JSON.stringify(r)));
    assert.deepEqual(await testOf(c), await testOf(a));
    const d = await svc.call.prepare({ ...req, seed: 43 });
    assert.notEqual(d.id, a.id);
    assert.notDeepEqual(await testOf(d), await testOf(a));
    // Train and test partition the rows.
    const all = [...(await readJsonl(env, a.splits[0]!.key)), ...(await readJsonl(env, a.splits[1]!.key))].map((r) => JSON.stringify(r));
    assert.equal(new Set(all).size, 60);
  });

  it("dataset_mixer fractions keep that share of each source, chosen by seed", async () => {
    const a = await file("mix-a.jsonl", lines(40, sftLine));
    const b = await file("mix-b.jsonl", lines(10, (i) => sftLine(100 + i)));
    const req = { sources: [{ uri: a, fraction: 0.25 }, { uri: b, fraction: 1 }], seed: 3 };
    const v = await svc.call.prepare(req);
    assert.equal(v.splits[0]?.rows, 20);
    const again = await svc.call.prepare(req);
    assert.equal(again.id, v.id);
    const other = await svc.call.prepare({ ...req, seed: 4 });
    assert.notEqual(other.id, v.id);
    assert.equal(other.splits[0]?.rows, 20);
  });

  it("reads Parquet files (Alpaca and ShareGPT layouts) into the same messages shape", async () => {
    const alpaca = path.join(env.tmp, "alpaca.parquet");
    await fsp.writeFile(alpaca, alpacaParquet(Array.from({ length: 12 }, (_, i) => ({ instruction: `Double ${i}.`, input: i % 2 ? `${i}` : "", output: `${2 * i}` }))));
    const sharegpt = path.join(env.tmp, "sharegpt.parquet");
    await fsp.writeFile(sharegpt, shareGptParquet([[{ from: "human", value: "hi" }, { from: "gpt", value: "hello" }], [{ from: "human", value: "only a question" }]]));
    const v = await svc.call.prepare({ sources: [{ uri: alpaca, fraction: 0 }, { uri: sharegpt, fraction: 0 }], kind: DatasetKind.DATASET_KIND_UNSPECIFIED, seed: 5 });
    assert.equal(v.kind, SFT);
    assert.equal(v.splits[0]!.rows, 13);
    const rows = await readJsonl(env, v.splits[0]!.key);
    assert.deepEqual(rows[1], { messages: [{ role: "user", content: "Double 1.\n\n1" }, { role: "assistant", content: "2" }] });
    assert.deepEqual(rows[12], { messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }] });
    assert.deepEqual(v.quarantineSample.map((q) => [q.source, q.row, q.reason]), [[sharegpt, 2, "conversations: has no assistant turn"]]);
    const broken = path.join(env.tmp, "broken.parquet");
    await fsp.writeFile(broken, "PAR1 this is not parquet");
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: broken, fraction: 0 }] }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => {
        assert.equal(e.details.field, "sources[0].uri");
        assert.match(e.message, /broken\.parquet is not a readable Parquet file/);
      }),
    );
  });

  it("removes exact duplicates (content, not ids) and counts them in the card", async () => {
    const dup = (i: number, id: string) => JSON.stringify({ id, messages: [{ role: "user", content: `q${i}` }, { role: "assistant", content: "a" }] });
    const src = await file("dups.jsonl", [dup(1, "a"), dup(2, "b"), dup(1, "c"), dup(1, "d")].join("\n"));
    const v = await svc.call.prepare({ sources: [{ uri: src, fraction: 0 }] });
    assert.equal(v.splits[0]!.rows, 2);
    const card = JSON.parse((await env.deps.store.get(`datasets/${v.id}/card.json`)).toString()) as { duplicates: { removed: number }; sources: { rows: { duplicates: number } }[] };
    assert.equal(card.duplicates.removed, 2);
    assert.equal(card.sources[0]!.rows.duplicates, 2);
  });

  it("lists versions and records the name pointer in the datasets KV bucket", async () => {
    const list = await svc.call.list();
    assert.ok(list.length >= 4);
    const catalog = await DatasetCatalog.open(env.deps.bus);
    const latest = await catalog.latestId("rev-sft");
    assert.ok(latest && list.some((v) => v.id === latest));
  });
});

describe("datasets service — s3:// sources on MinIO", () => {
  let env: TestEnv;
  let svc: Awaited<ReturnType<typeof withService>>;
  before(async () => {
    env = await startTestEnv("s3");
    svc = await withService(env);
  });
  after(async () => {
    await svc?.close();
    await env?.stop();
  });

  it("prepares preference JSONL from an s3:// URI of our bucket", async () => {
    await env.deps.store.put("uploads/prefs.jsonl", lines(20, prefLine) + "{\"prompt\": \"x\", \"chosen\": []}\n");
    const uri = env.deps.store.uri("uploads/prefs.jsonl");
    const v = await svc.call.prepare({ sources: [{ uri, fraction: 0 }], kind: PREF, testFraction: 0.2, seed: 1, name: "arith-prefs" });
    assert.equal(v.kind, PREF);
    assert.equal(v.splits[0]!.rows + v.splits[1]!.rows, 20);
    assert.deepEqual(v.quarantineSample.map((q) => [q.source, q.row]), [[uri, 21]]);
    assert.equal(v.quarantineSample[0]?.reason, "chosen: must not be empty");
    assert.ok(v.uri.startsWith(`s3://${env.deps.config.store.s3.bucket}/datasets/${v.id}/`));
    const row = (await readJsonl(env, v.splits[0]!.key))[0]!;
    assert.deepEqual(Object.keys(row), ["prompt", "chosen", "rejected", "prompt_id"]);
    assert.equal((row.chosen as unknown[]).length, 1, "the prompt is not repeated in the completion");
  });

  it("reads Parquet from an s3:// URI of our bucket", async () => {
    const rows = Array.from({ length: 9 }, (_, i) => ({ prompt: `q${i}`, messages: [{ role: "user", content: `q${i}` }, { role: "assistant", content: `a${i}` }] }));
    await env.deps.store.put("uploads/chat.parquet", ultrachatParquet(rows));
    const v = await svc.call.prepare({ sources: [{ uri: env.deps.store.uri("uploads/chat.parquet"), fraction: 0 }], seed: 2 });
    assert.equal(v.splits[0]!.rows, 9);
    const first = (await readJsonl(env, v.splits[0]!.key))[0]!;
    assert.deepEqual(first, { messages: rows[0]!.messages, prompt: "q0", prompt_id: "id0" });
  });

  it("rejects s3:// URIs outside our bucket and missing objects, naming the field", async () => {
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: "s3://someone-else/data.jsonl", fraction: 0 }] }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => {
        assert.equal(e.details.field, "sources[0].uri");
        assert.match(e.message, /not an object in this deployment's store/);
      }),
    );
    await assert.rejects(
      svc.call.prepare({ sources: [{ uri: env.deps.store.uri("uploads/none.jsonl"), fraction: 0 }] }),
      rejectsWith(status.NOT_FOUND, (e) => assert.equal(e.details.field, "sources[0].uri")),
    );
    await assert.rejects(svc.call.get("f".repeat(64)), rejectsWith(status.NOT_FOUND, (e) => assert.match(e.message, /f{64}/)));
  });
});
