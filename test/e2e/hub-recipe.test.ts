// datasets — a recipe whose dataset_mixer names a Hugging Face Hub dataset, run through the whole
// system (as `mambalign up` runs it): the datasets service resolves and downloads the Hub's Parquet
// files from a local stand-in (only MAMBALIGN_HF_ENDPOINT differs from the real Hub), the trainer
// fine-tunes the tiny model on them; with the Hub unreachable the run fails saying what to do.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RunStatus, Stage, StageStatus } from "@mambalign/core";
import { loadDatasetCard } from "@mambalign/datasets";
import { type HubStandIn, startHubStandIn } from "../../services/datasets/test-support/hub-stand-in.js";
import { type Msg, ultrachatParquet } from "../../services/datasets/test-support/parquet-fixtures.js";
import { startSystem, type System } from "./harness.js";

const REPO = "HuggingFaceH4/ultrachat_200k";

const chat = (i: number, split: string) => {
  const q = `Question ${i} of ${split}: what is ${i} plus one?`;
  return { prompt: q, messages: [{ role: "user", content: q }, { role: "assistant", content: `It is ${i + 1}.` }] as Msg[] };
};
const TRAIN = Array.from({ length: 24 }, (_, i) => chat(i, "train_sft"));
const TEST = Array.from({ length: 6 }, (_, i) => chat(100 + i, "test_sft"));
const GEN = Array.from({ length: 5 }, (_, i) => chat(200 + i, "train_gen"));

const recipe = (name: string) => `
name: ${name}
model_name_or_path: preset:tiny-mamba-char
stages: [sft]
torch_dtype: float32
use_peft: true
sft:
  dataset_mixer: { ${REPO}: 1.0 }
  dataset_splits: [train_sft, test_sft]
  max_steps: 2
  per_device_train_batch_size: 4
`;

const firstUserTurns = (jsonl: string) =>
  jsonl
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { messages: Msg[] }).messages.find((m) => m.role === "user")!.content)
    .sort();

describe("datasets — Hub datasets named by a recipe", () => {
  let hub: HubStandIn;
  const systems: System[] = [];
  const savedOmp = process.env.OMP_NUM_THREADS;

  before(async () => {
    // The Hub's layout for ultrachat_200k: Parquet shards per split under data/ (train_sft in two shards).
    hub = await startHubStandIn({
      [REPO]: {
        files: {
          "README.md": Buffer.from("# UltraChat 200k (stand-in)\n"),
          "data/train_sft-00000-of-00002-7d9c1a.parquet": ultrachatParquet(TRAIN.slice(0, 15)),
          "data/train_sft-00001-of-00002-e02b44.parquet": ultrachatParquet(TRAIN.slice(15)),
          "data/test_sft-00000-of-00001-3f5e61.parquet": ultrachatParquet(TEST),
          "data/train_gen-00000-of-00001-9a8b7c.parquet": ultrachatParquet(GEN),
        },
      },
    });
    process.env.OMP_NUM_THREADS = "1";
  });
  after(async () => {
    for (const s of systems) await s.stop();
    await hub?.close();
    if (savedOmp === undefined) delete process.env.OMP_NUM_THREADS;
    else process.env.OMP_NUM_THREADS = savedOmp;
  });

  test("a recipe whose dataset_mixer names Hub datasets prepares them through the pipeline from a local Hub stand-in (only the base URL differs)", { timeout: 5 * 60_000 }, async () => {
    const sys = await startSystem({ MAMBALIGN_HF_ENDPOINT: hub.url, OMP_NUM_THREADS: "1" });
    systems.push(sys);
    const { id } = await sys.startRun(recipe("hub-chat"), "hub-1");
    const run = await sys.waitRun(id);
    assert.equal(run.status, RunStatus.RUN_STATUS_SUCCEEDED, run.message);
    const sft = run.stages.find((s) => s.stage === Stage.STAGE_SFT)!;
    assert.equal(sft.status, StageStatus.STAGE_STATUS_SUCCEEDED);
    assert.match(sft.output, /^hub-chat-sft\/v\d+$/);

    // The prepared version: the Hub's train_sft rows are its train split, test_sft its test split.
    const datasetId = run.trainDatasetSft;
    assert.match(datasetId, /^[0-9a-f]{64}$/);
    const store = sys.system.deps.store;
    const split = async (name: string) => (await store.get(`datasets/${datasetId}/${name}.jsonl`)).toString("utf8");
    assert.deepEqual(firstUserTurns(await split("train")), TRAIN.map((r) => r.prompt).sort());
    assert.deepEqual(firstUserTurns(await split("test")), TEST.map((r) => r.prompt).sort());
    const card = await loadDatasetCard(store, `datasets/${datasetId}`);
    assert.deepEqual([card.splits.train.rows, card.splits.test.rows], [24, 6]);
    assert.equal(card.sources[0]!.hub?.repo, REPO);
    assert.equal(card.sources[0]!.hub?.commit, hub.commitOf(REPO));

    // Through the Hub's real paths: revision lookup, then the named splits' files at that commit (not train_gen).
    const paths = hub.requests.map((r) => r.path);
    assert.ok(paths.includes(`/api/datasets/${REPO}/revision/main`), paths.join(", "));
    const downloads = paths.filter((p) => p.includes("/resolve/")).sort();
    assert.deepEqual(downloads, [
      `/datasets/${REPO}/resolve/${hub.commitOf(REPO)}/data/test_sft-00000-of-00001-3f5e61.parquet`,
      `/datasets/${REPO}/resolve/${hub.commitOf(REPO)}/data/train_sft-00000-of-00002-7d9c1a.parquet`,
      `/datasets/${REPO}/resolve/${hub.commitOf(REPO)}/data/train_sft-00001-of-00002-e02b44.parquet`,
    ]);
  });

  test("with the Hub unreachable the run fails with a message naming the dataset and how to supply it as a file", { timeout: 2 * 60_000 }, async () => {
    const down = await startHubStandIn({});
    const url = down.url;
    await down.close(); // nothing listens there now
    const sys = await startSystem({ MAMBALIGN_HF_ENDPOINT: url, MAMBALIGN_HF_ATTEMPTS: "2" });
    systems.push(sys);
    const { id } = await sys.startRun(recipe("hub-offline"), "hub-offline-1");
    const run = await sys.waitRun(id);
    assert.equal(run.status, RunStatus.RUN_STATUS_FAILED);
    assert.match(run.message, new RegExp(`preparing the sft dataset failed: dataset ${REPO}: the Hugging Face Hub at ${url.replace(/\./g, "\\.")} cannot be reached`));
    assert.match(run.message, /a local path or an s3:\/\/ URI/);
    assert.equal(run.trainDatasetSft, "");
    assert.ok(run.stages.every((s) => s.attempt === 0), "no stage was queued");
  });
});
