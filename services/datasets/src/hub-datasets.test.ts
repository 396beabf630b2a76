import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  type ApiError,
  callUnary,
  checkRecipe,
  createClient,
  DatasetKind,
  DatasetServiceClient,
  type DatasetSource,
  type DatasetVersion,
  type GrpcServerHandle,
  type PrepareDatasetRequest,
} from "@mambalign/core";
import { BENCH_DATA_DIR, NEOX_TOKENIZER_DIR } from "@mambalign/core/testing";
import { type DatasetCard, loadDatasetCard, showDatasetCard } from "./dataset-card.js";
import { datasetServiceBinding } from "./dataset-service.js";
import { type DatasetsOptions, datasetsOptionsFromEnv } from "./datasets-options.js";
import { CACHE_PREFIX } from "./hub-source.js";
import { listKeys, serveBindings, startTestEnv, type TestEnv } from "../test-support/test-env.js";
import { startHubStandIn, type HubStandIn } from "../test-support/hub-stand-in.js";
import { type Msg, ultrachatParquet, ultrafeedbackParquet } from "../test-support/parquet-fixtures.js";

const TOKENIZER = path.join(NEOX_TOKENIZER_DIR, "tokenizer.json");
const PYTHON = process.env.MAMBALIGN_PYTHON ?? path.resolve(import.meta.dirname, "../../../.venv/bin/python");
const RUNTIME_DIR = path.resolve(import.meta.dirname, "../../runtime");

const user = (content: string): Msg => ({ role: "user", content });
const assistant = (content: string): Msg => ({ role: "assistant", content });
const chat = (i: number, q = `Tell me fact number ${i} about the sea.`) => ({ prompt: q, messages: [user(q), assistant(`Fact ${i}: the sea is salty.`)] });

// An AlpacaEval instruction copied into the training data: decontamination must remove it.
const ALPACA_COPY = "What are the names of some famous actors that started their careers on Broadway?";

const RECIPE = `
model_name_or_path: state-spaces/mamba-130m-hf
sft:
  dataset_mixer:
    HuggingFaceH4/ultrachat_200k: 0.5
    someone/more-chat: 1.0
  dataset_splits: [train_sft, test_sft]
dpo:
  dataset_mixer:
    HuggingFaceH4/ultrafeedback_binarized: 1.0
  dataset_splits: [train_prefs, test_prefs]
`;

function rejectsWith(code: status, check: (e: ApiError) => void) {
  return (err: ApiError) => {
    assert.equal(err.code, code, err.message);
    check(err);
    return true;
  };
}

describe("datasets — Hugging Face Hub sources through a local stand-in", () => {
  let env: TestEnv;
  let hub: HubStandIn;
  let server: GrpcServerHandle;
  let client: DatasetServiceClient;
  let options: DatasetsOptions;
  const prepare = (req: Partial<PrepareDatasetRequest>) =>
    callUnary(client.prepareDataset.bind(client), { sources: [], kind: DatasetKind.DATASET_KIND_SFT, testFraction: 0, seed: 0, name: "", splits: [], ...req, ...(req.splits ? { splits: req.splits } : {}) }).then(
      (r) => r.dataset as DatasetVersion,
    );
  const card = (v: DatasetVersion): Promise<DatasetCard> => loadDatasetCard(env.deps.store, `datasets/${v.id}`);

  const ultrachatTrain = ultrachatParquet([...Array.from({ length: 40 }, (_, i) => chat(i)), chat(3), chat(99, ALPACA_COPY)]);
  const ultrachatTest = ultrachatParquet(Array.from({ length: 6 }, (_, i) => chat(1000 + i)));
  const feedback = (n: number, offset: number) =>
    ultrafeedbackParquet(
      Array.from({ length: n }, (_, i) => ({
        prompt: `Add ${i + offset} and 1.`,
        chosen: [user(`Add ${i + offset} and 1.`), assistant(`${i + offset + 1}`)],
        rejected: [user(`Add ${i + offset} and 1.`), assistant(`${i + offset + 2}`)],
      })),
    );

  before(async () => {
    env = await startTestEnv("fs");
    hub = await startHubStandIn({
      "HuggingFaceH4/ultrachat_200k": {
        files: {
          "README.md": Buffer.from("# UltraChat 200k\n"),
          "data/train_sft-00000-of-00002-a1b2c3.parquet": ultrachatTrain.subarray(0),
          "data/train_sft-00001-of-00002-d4e5f6.parquet": ultrachatParquet(Array.from({ length: 10 }, (_, i) => chat(200 + i))),
          "data/test_sft-00000-of-00001-0a0b0c.parquet": ultrachatTest,
          "data/train_gen-00000-of-00001-111111.parquet": ultrachatParquet([chat(5000)]),
        },
      },
      "someone/more-chat": { files: { "train_sft.jsonl": Buffer.from(Array.from({ length: 5 }, (_, i) => JSON.stringify({ messages: [user(`extra ${i}`), assistant("ok")] })).join("\n")) }, token: "hf_secret" },
      "HuggingFaceH4/ultrafeedback_binarized": {
        files: {
          "data/train_prefs-00000-of-00001-aaaa.parquet": feedback(30, 0),
          "data/test_prefs-00000-of-00001-bbbb.parquet": feedback(5, 500),
        },
      },
    });
    process.env.PYTHONPATH = RUNTIME_DIR;
    options = {
      ...datasetsOptionsFromEnv({}),
      hub: { endpoint: hub.url, token: "hf_secret", attempts: 3, backoffMs: 10 },
      benchDataDir: BENCH_DATA_DIR,
      tokenize: { tokenizer: TOKENIZER, chatTemplate: "", maxSeqLength: 64, packing: true, assistantOnlyLoss: true },
      python: PYTHON,
      workDir: path.join(env.tmp, "work"),
    };
    server = await serveBindings(env.deps, [await datasetServiceBinding(env.deps, options)]);
    client = createClient(DatasetServiceClient, `127.0.0.1:${server.port}`);
  });
  after(async () => {
    client?.close();
    await server?.close(1000);
    await hub?.close();
    await env?.stop();
  });

  it("a recipe's dataset_mixer naming Hub datasets prepares end to end: splits, mixing, cleaning, tokens, card", async () => {
    const { recipe, ok, issues } = checkRecipe(RECIPE);
    assert.ok(ok, JSON.stringify(issues));
    // What the pipeline sends: each mixer name (no datasets: mapping) as the source uri.
    const sources = (mixer: Record<string, number>): DatasetSource[] => Object.entries(mixer).map(([uri, fraction]) => ({ uri, fraction }));
    hub.dropNextDownload("data/train_sft-00000-of-00002-a1b2c3.parquet", 300);
    const sft = await prepare({ sources: sources(recipe.sft!.args!.datasetMixer), seed: 42, name: "zephyr-sft", testFraction: 0.1 });

    const c = await card(sft);
    const [uc, more] = c.sources;
    assert.equal(uc!.hub?.repo, "HuggingFaceH4/ultrachat_200k");
    assert.equal(uc!.hub?.revision, "main");
    assert.equal(uc!.hub?.commit, hub.commitOf("HuggingFaceH4/ultrachat_200k"));
    assert.deepEqual(uc!.files.map((f) => [f.split, f.path]), [
      ["train_sft", "data/train_sft-00000-of-00002-a1b2c3.parquet"],
      ["train_sft", "data/train_sft-00001-of-00002-d4e5f6.parquet"],
      ["test_sft", "data/test_sft-00000-of-00001-0a0b0c.parquet"],
    ]);
    // 52 train rows read: 1 exact duplicate, 1 AlpacaEval copy; half of the 50 left kept.
    assert.deepEqual(uc!.rows, { read: 58, quarantined: 0, duplicates: 1, contaminated: 1, sampledOut: 25, train: 25, test: 6 });
    // more-chat has no test_sft: test_fraction splits its rows by hash instead.
    assert.equal(more!.rows.read, 5);
    assert.equal(more!.rows.train + more!.rows.test, 5);
    assert.equal(sft.splits[0]!.rows, 25 + more!.rows.train);
    assert.equal(sft.splits[1]!.rows, 6 + more!.rows.test, "a Hub test split is the test split; test_fraction does not apply to it");
    assert.deepEqual(c.decontamination.rows.map((r) => [r.source, r.split, r.evalId]), [["HuggingFaceH4/ultrachat_200k", "train_sft", "alpaca_eval:0"]]);
    assert.equal(c.decontamination.ngram, 8);
    assert.equal(c.duplicates.removed, 1);

    // The download was cut after 300 bytes and resumed with a Range request.
    // The download was cut after 300 bytes and tried again: with a Range from what had reached the
    // disk (fetch may drop bytes still queued when the connection fails), else from the start.
    const cutFile = hub.requests.filter((r) => r.path.endsWith("a1b2c3.parquet"));
    assert.ok(cutFile.length >= 2, `the cut download was retried: ${JSON.stringify(cutFile)}`);
    for (const r of cutFile.slice(1)) {
      const from = /^bytes=(\d+)-$/.exec(r.range)?.[1];
      assert.ok(r.range === "" || (from !== undefined && Number(from) <= 300), `resume point ${r.range}`);
    }
    // The gated repo got the token.
    assert.ok(hub.requests.filter((r) => r.path.includes("someone/more-chat")).every((r) => r.authorized));

    // Tokens: packed shards with the card's statistics and a PNG histogram.
    assert.ok(c.tokens);
    assert.equal(c.tokens.maxLength, 64);
    assert.equal(c.tokens.splits.train!.documents, sft.splits[0]!.rows);
    assert.equal(c.tokens.splits.test!.documents, sft.splits[1]!.rows);
    const keys = await listKeys(env.deps, `datasets/${sft.id}/`);
    assert.ok(keys.includes(`datasets/${sft.id}/tokens/train-00000.safetensors`), keys.join(", "));
    assert.ok(keys.includes(`datasets/${sft.id}/token-lengths.png`));
    const shown = await showDatasetCard(env.deps.store, `datasets/${sft.id}`, env.tmp);
    const png = await fsp.readFile(shown.pngPath);
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from("PNG")]);
    assert.match(shown.text, /HuggingFaceH4\/ultrachat_200k @ main \(commit [0-9a-f]{40}\)/);
    assert.match(shown.text, /decontamination: 1 rows removed \(word 8-grams, overlap >= 0.5/);
    assert.match(shown.text, new RegExp(`train: ${sft.splits[0]!.rows} sequences, \\d+ tokens, truncated \\d+ \\(`));

    // Content-addressed cache: every Hub file once under datasets/cache/<sha256>.
    const cached = (await listKeys(env.deps, `${CACHE_PREFIX}/`)).filter((k) => /\/[0-9a-f]{64}$/.test(k));
    assert.equal(cached.length, 4);
  });

  it("a second run never downloads again: files come from the cache in our store", async () => {
    const before = hub.requests.filter((r) => r.path.includes("/resolve/")).length;
    const mixer = [{ uri: "HuggingFaceH4/ultrafeedback_binarized", fraction: 1 }];
    const a = await prepare({ sources: mixer, kind: DatasetKind.DATASET_KIND_PREFERENCE, seed: 1 });
    const downloads = hub.requests.filter((r) => r.path.includes("/resolve/")).length - before;
    assert.equal(downloads, 2, "train_prefs and test_prefs downloaded once");
    const b = await prepare({ sources: mixer, kind: DatasetKind.DATASET_KIND_PREFERENCE, seed: 1 });
    assert.equal(b.id, a.id);
    assert.equal(hub.requests.filter((r) => r.path.includes("/resolve/")).length - before, 2, "no download on the second run");
    assert.deepEqual([a.splits[0]!.rows, a.splits[1]!.rows], [30, 5]);
    const c = await card(a);
    assert.equal(c.kind, "DATASET_KIND_PREFERENCE");
    assert.equal(c.tokens?.splits.train?.documents, 60, "chosen and rejected of 30 rows");
    // Pinned revisions resolve too; a missing split names what the dataset offers.
    const pinned = await prepare({ sources: [{ uri: `HuggingFaceH4/ultrafeedback_binarized@${hub.commitOf("HuggingFaceH4/ultrafeedback_binarized")}`, fraction: 1 }], kind: DatasetKind.DATASET_KIND_PREFERENCE, seed: 1 });
    assert.equal((await card(pinned)).sources[0]!.hub?.commit, hub.commitOf("HuggingFaceH4/ultrafeedback_binarized"));
    await assert.rejects(
      prepare({ sources: [{ uri: "HuggingFaceH4/ultrachat_200k", fraction: 1 }], kind: DatasetKind.DATASET_KIND_PREFERENCE }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => {
        assert.equal(e.details.field, "sources[0].uri");
        assert.match(e.message, /no split "train_prefs".*offers: test_sft, train_gen, train_sft/);
      }),
    );
    await assert.rejects(
      prepare({ sources: [{ uri: "nobody/missing", fraction: 1 }] }),
      rejectsWith(status.NOT_FOUND, (e) => assert.match(e.message, /dataset nobody\/missing/)),
    );
  });

  it("an unreachable Hub fails clearly, naming the dataset and how to supply it as a file, and writes nothing", async () => {
    const down = await startHubStandIn({});
    const url = down.url;
    await down.close(); // nothing listens there now
    const offline = { ...options, hub: { ...options.hub, endpoint: url } };
    const srv = await serveBindings(env.deps, [await datasetServiceBinding(env.deps, offline)]);
    const c = createClient(DatasetServiceClient, `127.0.0.1:${srv.port}`);
    const keysBefore = await listKeys(env.deps, "datasets/");
    try {
      await assert.rejects(
        callUnary(c.prepareDataset.bind(c), { sources: [{ uri: "HuggingFaceH4/ultrachat_200k", fraction: 1 }], kind: DatasetKind.DATASET_KIND_SFT, testFraction: 0, seed: 0, name: "", splits: [] }),
        rejectsWith(status.FAILED_PRECONDITION, (e) => {
          assert.match(e.message, /^dataset HuggingFaceH4\/ultrachat_200k: the Hugging Face Hub at http:\/\/127\.0\.0\.1:\d+ cannot be reached \(ECONNREFUSED after 3 tries\)/);
          assert.match(e.message, /name them instead: a local path or an s3:\/\/ URI/);
          assert.ok(!e.message.includes("hf_secret"), "the token is never in messages");
        }),
      );
    } finally {
      c.close();
      await srv.close(1000);
    }
    assert.deepEqual(await listKeys(env.deps, "datasets/"), keysBefore);
  });
});
