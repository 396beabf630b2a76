// AlpacaEval's LC needs two files of its Hub dataset (instruction difficulty, gamed baselines). They are fetched
// with the datasets service's Hub client and kept in our object store under the evaluator's prefix, keyed by the
// Hub commit, so later evaluations (and ones where the Hub cannot be reached) use the same bytes.
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { joinKey, ObjectNotFoundError, type ObjectStore } from "@mambalign/core";
import { HubClient, type HubOptions } from "@mambalign/datasets";
import { buildLcReference, LC_DATASET, type LcReference } from "./judging/index.js";

/** Under the evaluator's own prefix; eval ids never take this name (see evalIdOf). */
export const LC_DATA_PREFIX = "evals/lc-data";

/** Where to get the files: a Hub (or a stand-in with its API) and the dataset revision. */
export interface LcDataSettings {
  hub: HubOptions;
  repo: string;
  revision: string;
}

export type LcDataOutcome = { reference: LcReference; note?: string } | { reference: null; reason: string };

const FILES = [LC_DATASET.difficultyFile, LC_DATASET.gamedFile] as const;

const describe = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 300);

/**
 * The LC reference for AlpacaEval's eval set (`instructions`, in its order). From the Hub when it answers (cached on
 * first use), else from the copy cached for the same revision; otherwise null with the reason, never an exception:
 * without these files the evaluation still reports the win rate and a length adjustment under another name.
 */
export async function loadLcReference(store: ObjectStore, settings: LcDataSettings | null, instructions: string[]): Promise<LcDataOutcome> {
  if (!settings) return { reference: null, reason: "AlpacaEval's LC data is switched off (MAMBALIGN_ALPACA_EVAL_LC_DATASET=off)" };
  const { repo, revision } = settings;
  const pointerKey = joinKey(LC_DATA_PREFIX, `${repo}/revisions/${encodeURIComponent(revision)}.json`);
  let texts: string[];
  let commit: string;
  let note: string | undefined;
  try {
    ({ texts, commit } = await fromHub(store, settings));
    await store.put(pointerKey, JSON.stringify({ commit }), { contentType: "application/json" });
  } catch (hubErr) {
    const cached = await fromCache(store, repo, pointerKey).catch(() => null);
    if (!cached) {
      return { reference: null, reason: `${LC_DATASET.difficultyFile} / ${LC_DATASET.gamedFile} of ${repo}@${revision} could not be had (${describe(hubErr)}) and no copy is cached` };
    }
    ({ texts, commit } = cached);
    note = `the Hub did not answer (${describe(hubErr)}); used the copy cached from ${repo}@${commit}`;
  }
  try {
    const reference = buildLcReference(texts[0]!, texts[1]!, instructions, `${repo}@${commit}`);
    const notes = [note, reference.note].filter(Boolean).join("; ");
    return notes ? { reference, note: notes } : { reference };
  } catch (err) {
    return { reference: null, reason: `AlpacaEval's LC data is unusable: ${describe(err)}` };
  }
}

const fileKey = (repo: string, commit: string, file: string) => joinKey(LC_DATA_PREFIX, `${repo}/${commit}/${file}`);

async function fromHub(store: ObjectStore, settings: LcDataSettings): Promise<{ texts: string[]; commit: string }> {
  const hub = new HubClient(settings.hub);
  const rev = await hub.resolve(settings.repo, settings.revision);
  const texts: string[] = [];
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-lc-"));
  try {
    for (const name of FILES) {
      const key = fileKey(settings.repo, rev.commit, name);
      const have = await store.get(key).catch((err: unknown) => {
        if (err instanceof ObjectNotFoundError) return null;
        throw err;
      });
      if (have) {
        texts.push(have.toString("utf8"));
        continue;
      }
      const file = rev.files.find((f) => f.path === name);
      if (!file) throw new Error(`${settings.repo}@${rev.commit} has no ${name}`);
      const local = path.join(dir, name);
      await hub.download(rev, file, local);
      await store.putFile(key, local, { contentType: "text/csv" });
      texts.push(await fsp.readFile(local, "utf8"));
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
  return { texts, commit: rev.commit };
}

async function fromCache(store: ObjectStore, repo: string, pointerKey: string): Promise<{ texts: string[]; commit: string } | null> {
  const { commit } = JSON.parse((await store.get(pointerKey)).toString("utf8")) as { commit?: unknown };
  if (typeof commit !== "string" || !/^[0-9a-f]{7,64}$/.test(commit)) return null;
  const texts = await Promise.all(FILES.map(async (f) => (await store.get(fileKey(repo, commit, f))).toString("utf8")));
  return { texts, commit };
}
