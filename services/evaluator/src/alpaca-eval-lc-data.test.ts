// AlpacaEval LC on published annotations: its data fetched from a stand-in Hub (the datasets service's HubClient)
// and cached in the object store; compared with scikit-learn (synthetic LC files) and with the leaderboard (AlpacaEval's
// own files, when present).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FsObjectStore } from "@mambalign/core";
import { type HubStandIn, startHubStandIn } from "@mambalign/datasets/testing/hub-stand-in";
import { LC_DATA_PREFIX, type LcDataSettings, loadLcReference } from "./alpaca-eval-lc-data.js";
import { type AlpacaEvalAnnotationRow, LC_DATASET, type LcReference, scoreAlpacaEval } from "./judging/index.js";

const testdata = resolve(fileURLToPath(import.meta.url), "../../testdata");
const published = join(testdata, "alpaca-eval-leaderboard");
const synthetic = join(testdata, "alpaca-eval-lc-synthetic");
/** AlpacaEval's own Hub files, where someone with Hub access has put them (see the README of alpaca-eval-leaderboard). */
const realHubFiles = join(testdata, "alpaca-eval-lc-hub");

interface CompactModel {
  model: string;
  baseline: string;
  preference: (number | null)[];
  len_1: (number | null)[];
  len_2: (number | null)[];
}

const models: CompactModel[] = readFileSync(join(published, "annotations.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as CompactModel);
const leaderboard = new Map(
  readFileSync(join(published, "leaderboard.csv"), "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split(","))
    .map((c) => [c[0]!, { winRate: Number(c[1]), lc: Number(c[10]) }] as const),
);
/** The compact rows carry lengths, not texts; instruction k stands for the eval set's k-th instruction. */
const evalSet = models[0]!.preference.map((_, k) => `instruction ${k}`);

function annotationsOf(m: CompactModel): AlpacaEvalAnnotationRow[] {
  return m.preference.map((preference, k) => ({
    instruction: evalSet[k]!,
    output_1: m.len_1[k] === null ? null : "b".repeat(m.len_1[k]!),
    output_2: m.len_2[k] === null ? null : "m".repeat(m.len_2[k]!),
    generator_1: m.baseline,
    generator_2: m.model,
    preference,
  }));
}

const hubFiles = (dir: string) => ({
  [LC_DATASET.difficultyFile]: readFileSync(join(dir, LC_DATASET.difficultyFile)),
  [LC_DATASET.gamedFile]: readFileSync(join(dir, LC_DATASET.gamedFile)),
});

const settingsFor = (hub: string): LcDataSettings => ({ hub: { endpoint: hub, token: "", attempts: 1, backoffMs: 0 }, repo: LC_DATASET.repo, revision: "main" });

describe("AlpacaEval LC data — Hub, object-store cache, published annotations", () => {
  let hub: HubStandIn;
  let tmp: string;
  let store: FsObjectStore;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lc-data-"));
    store = new FsObjectStore({ root: tmp });
    hub = await startHubStandIn({ [LC_DATASET.repo]: { files: hubFiles(synthetic) } });
  });
  after(async () => {
    await hub.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  });

  it("matches scikit-learn's length_controlled_v1 (and the no-difficulty GLM) within 0.1 point on five published models", async () => {
    const got = await loadLcReference(store, settingsFor(hub.url), evalSet);
    assert.ok(got.reference, `no reference: ${"reason" in got ? got.reason : ""}`);
    assert.equal(got.reference.source, `${LC_DATASET.repo}@${hub.commitOf(LC_DATASET.repo)}`);
    const expected = (JSON.parse(readFileSync(join(synthetic, "sklearn-expected.json"), "utf8")) as { winrates: Record<string, Record<string, number>> }).winrates;
    for (const m of models) {
      const [withLc] = scoreAlpacaEval(annotationsOf(m), { lcReference: got.reference });
      const [without] = scoreAlpacaEval(annotationsOf(m), { lcUnavailable: "test" });
      // The raw win rate is the leaderboard's to the last digit: the compact rows are the published annotations.
      assert.ok(Math.abs(withLc!.winRate! - leaderboard.get(m.model)!.winRate) < 1e-9, `${m.model} win rate`);
      const lc = withLc!.lengthControlled!.winRate;
      const adjusted = without!.lengthAdjustedNoDifficulty!.winRate;
      assert.ok(Math.abs(lc - expected[m.model]!.length_controlled_v1!) < 0.1, `${m.model}: LC ${lc} vs scikit-learn ${expected[m.model]!.length_controlled_v1}`);
      assert.ok(Math.abs(adjusted - expected[m.model]!.length_adjusted_no_difficulty!) < 0.1, `${m.model}: adjusted ${adjusted} vs ${expected[m.model]!.length_adjusted_no_difficulty}`);
    }
  });

  it("fetches the files once: later loads read the object-store copy, also when the Hub is gone", async () => {
    const downloads = () => hub.requests.filter((r) => r.path.includes("/resolve/")).length;
    const before = downloads();
    const again = await loadLcReference(store, settingsFor(hub.url), evalSet);
    assert.ok(again.reference);
    assert.equal(downloads(), before, "served from the object store");
    const keys: string[] = [];
    for await (const o of store.list(`${LC_DATA_PREFIX}/`)) keys.push(o.key);
    assert.ok(keys.includes(`${LC_DATA_PREFIX}/${LC_DATASET.repo}/${hub.commitOf(LC_DATASET.repo)}/${LC_DATASET.gamedFile}`), keys.join(", "));

    const url = hub.url;
    await hub.close();
    const offline = await loadLcReference(store, settingsFor(url), evalSet);
    assert.ok(offline.reference, "the cached copy stands in for the Hub");
    assert.match((offline as { note?: string }).note ?? "", /Hub did not answer.*cached/);
  });

  it("with no Hub and nothing cached there is no LC, and the reason says so", async () => {
    const empty = new FsObjectStore({ root: join(tmp, "empty") });
    const got = await loadLcReference(empty, settingsFor("http://127.0.0.1:9"), evalSet);
    assert.equal(got.reference, null);
    assert.match((got as { reason: string }).reason, /instruction_difficulty\.csv \/ df_gamed\.csv of tatsu-lab\/alpaca_eval@main could not be had .* no copy is cached/);
    assert.equal((await loadLcReference(empty, null, evalSet)).reference, null);
  });
});

describe("AlpacaEval LC — the published leaderboard", () => {
  const have = existsSync(join(realHubFiles, LC_DATASET.difficultyFile)) && existsSync(join(realHubFiles, LC_DATASET.gamedFile));
  it(
    "our LC is within 0.1 point of the leaderboard's length_controlled_winrate for five published models",
    { skip: have ? false : `needs AlpacaEval's own ${LC_DATASET.difficultyFile} and ${LC_DATASET.gamedFile} (Hub dataset ${LC_DATASET.repo}) in testdata/alpaca-eval-lc-hub/; the Hub could not be reached where this was written` },
    async () => {
      const hub = await startHubStandIn({ [LC_DATASET.repo]: { files: hubFiles(realHubFiles) } });
      const tmp = await mkdtemp(join(tmpdir(), "lc-real-"));
      try {
        const got = await loadLcReference(new FsObjectStore({ root: tmp }), settingsFor(hub.url), evalSet);
        const reference = (got as { reference: LcReference }).reference;
        assert.ok(reference, `no reference: ${(got as { reason?: string }).reason}`);
        for (const m of models) {
          const lc = scoreAlpacaEval(annotationsOf(m), { lcReference: reference })[0]!.lengthControlled!.winRate;
          const want = leaderboard.get(m.model)!.lc;
          assert.ok(Math.abs(lc - want) < 0.1, `${m.model}: LC ${lc} vs leaderboard ${want}`);
        }
      } finally {
        await hub.close();
        await rm(tmp, { recursive: true, force: true });
      }
    },
  );
});
