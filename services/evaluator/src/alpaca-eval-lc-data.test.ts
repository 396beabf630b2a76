// AlpacaEval LC data: fetched from a stand-in Hub with the datasets service's HubClient and cached in the object
// store; and, where AlpacaEval's published files are at hand (testdata/alpaca-eval-published/README.md), our LC on
// published annotations against the leaderboard.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FsObjectStore } from "@mambalign/core";
import { type HubStandIn, startHubStandIn } from "@mambalign/datasets/testing/hub-stand-in";
import { LC_DATA_PREFIX, type LcDataSettings, loadLcReference } from "./alpaca-eval-lc-data.js";
import { type AlpacaEvalAnnotationRow, LC_DATASET, type LcReference, scoreAlpacaEval } from "./judging/index.js";

const settingsFor = (hub: string): LcDataSettings => ({ hub: { endpoint: hub, token: "", attempts: 1, backoffMs: 0 }, repo: LC_DATASET.repo, revision: "main" });

/** A small eval set with LC files in AlpacaEval's layout (made-up values). */
const evalSet = Array.from({ length: 30 }, (_, k) => `instruction ${k}`);
const difficulty = (k: number) => ((k * 7) % 9) / 4 - 1;
const syntheticFiles = {
  [LC_DATASET.difficultyFile]: Buffer.from(["index,instruction_difficulty", ...evalSet.map((_, k) => `${k},${difficulty(k)}`)].join("\n")),
  [LC_DATASET.gamedFile]: Buffer.from(
    [
      "preference,index,std_delta_len,instruction_difficulty,not_gamed_baseline,model",
      ...["verbose", "concise"].flatMap((g, j) => evalSet.map((_, k) => `${j ? 0.2 : 0.85},${k},${(j ? 1 : -1) * (0.4 + (k % 4) / 3)},${difficulty(k)},False,gpt4_1106_preview_${g}`)),
    ].join("\n"),
  ),
};

describe("AlpacaEval LC data — Hub and object-store cache", () => {
  let hub: HubStandIn;
  let tmp: string;
  let store: FsObjectStore;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lc-data-"));
    store = new FsObjectStore({ root: tmp });
    hub = await startHubStandIn({ [LC_DATASET.repo]: { files: syntheticFiles } });
  });
  after(async () => {
    await hub.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  });

  it("fetches both files through the Hub client, keyed by instruction, and names the commit", async () => {
    const got = await loadLcReference(store, settingsFor(hub.url), evalSet);
    assert.ok(got.reference, `no reference: ${"reason" in got ? got.reason : ""}`);
    assert.equal(got.reference.source, `${LC_DATASET.repo}@${hub.commitOf(LC_DATASET.repo)}`);
    assert.equal(got.reference.difficultyByInstruction.get("instruction 4"), difficulty(4));
    assert.equal(got.reference.gamed.length, 60);
  });

  it("fetches them once: later loads read the object-store copy, also when the Hub is gone", async () => {
    const downloads = () => hub.requests.filter((r) => r.path.includes("/resolve/")).length;
    const before = downloads();
    assert.ok((await loadLcReference(store, settingsFor(hub.url), evalSet)).reference);
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
    assert.match(((await loadLcReference(empty, null, evalSet)) as { reason: string }).reason, /switched off/);
  });
});

const published = process.env.MAMBALIGN_ALPACA_EVAL_PUBLISHED || resolve(fileURLToPath(import.meta.url), "../../testdata/alpaca-eval-published");
const publishedFiles = (): { leaderboard: string; annotations: string[]; lcData: string } | null => {
  const lcData = join(published, "lc-data");
  const dir = join(published, "annotations");
  if (![join(published, "leaderboard.csv"), join(lcData, LC_DATASET.difficultyFile), join(lcData, LC_DATASET.gamedFile), dir].every((p) => existsSync(p))) return null;
  const annotations = readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((f) => join(dir, f));
  return annotations.length ? { leaderboard: join(published, "leaderboard.csv"), annotations, lcData } : null;
};

describe("AlpacaEval LC — the published leaderboard", () => {
  const files = publishedFiles();
  it(
    "our LC is within 0.1 point of the leaderboard's length_controlled_winrate, and the win rate is the leaderboard's",
    { skip: files ? false : `needs AlpacaEval's published files in ${published} (see the README there)` },
    async () => {
      const { leaderboard, annotations, lcData } = files!;
      // The leaderboard CSV: first column the model, then named columns.
      const [head, ...lines] = readFileSync(leaderboard, "utf8").trim().split("\n").map((l) => l.split(","));
      const col = (name: string) => head!.indexOf(name);
      const board = new Map(lines.map((c) => [c[0]!, { winRate: Number(c[col("win_rate")]), lc: Number(c[col("length_controlled_winrate")]) }]));
      const hub = await startHubStandIn({ [LC_DATASET.repo]: { files: { [LC_DATASET.difficultyFile]: readFileSync(join(lcData, LC_DATASET.difficultyFile)), [LC_DATASET.gamedFile]: readFileSync(join(lcData, LC_DATASET.gamedFile)) } } });
      const tmp = await mkdtemp(join(tmpdir(), "lc-published-"));
      try {
        const rowsOf = (f: string) => JSON.parse(readFileSync(f, "utf8")) as AlpacaEvalAnnotationRow[];
        const evalSetOrder = rowsOf(annotations[0]!).map((r) => r.instruction!);
        const got = await loadLcReference(new FsObjectStore({ root: tmp }), settingsFor(hub.url), evalSetOrder);
        const reference = (got as { reference: LcReference | null }).reference;
        assert.ok(reference, `no reference: ${(got as { reason?: string }).reason}`);
        const report: string[] = [];
        for (const f of annotations) {
          const [s] = scoreAlpacaEval(rowsOf(f), { lcReference: reference });
          const want = board.get(s!.model);
          assert.ok(want, `${s!.model} is not on the leaderboard`);
          const lc = s!.lengthControlled!.winRate;
          report.push(`${s!.model}: LC ${lc.toFixed(3)} (leaderboard ${want.lc.toFixed(3)})`);
          assert.ok(Math.abs(s!.winRate! - want.winRate) < 1e-9, `${s!.model}: win rate ${s!.winRate} vs ${want.winRate}`);
          assert.ok(Math.abs(lc - want.lc) < 0.1, `${s!.model}: LC ${lc} vs leaderboard ${want.lc}`);
        }
        process.stdout.write(`${report.join("; ")}\n`);
      } finally {
        await hub.close();
        await rm(tmp, { recursive: true, force: true });
      }
    },
  );
});
