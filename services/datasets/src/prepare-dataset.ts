// PrepareDataset: read sources (local, s3://, Hub), validate rows (quarantining bad ones),
// de-duplicate, decontaminate against eval prompts, mix, split, optionally tokenise and pack,
// and store a content-addressed version with its card. Everything is checked before the first
// write, so a rejected request writes nothing under the version's prefix.
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import {
  ApiError,
  DatasetKind,
  datasetKindToJSON,
  DatasetVersion,
  type LocalRoots,
  type Metrics,
  type ObjectStore,
  type QuarantinedRow,
  sha256File,
  sha256Hex,
  uploadDirWithManifest,
} from "@mambalign/core";
import type { Logger } from "pino";
import type { DatasetCatalog } from "./dataset-catalog.js";
import { type CardSource, type ContaminatedRow, type DatasetCard, HISTOGRAM_FILE } from "./dataset-card.js";
import { type DatasetsOptions, splitsForKind } from "./datasets-options.js";
import { type Contamination, type EvalIndex, loadEvalIndex } from "./decontaminate.js";
import { histogramPng } from "./histogram-png.js";
import type { HubClient, ProgressFn } from "./hub-client.js";
import { stageHubDataset } from "./hub-source.js";
import type { PrepareParams, ResolvedSource } from "./prepare-request.js";
import { checkSource, readRecords, type SourceLocation } from "./read-source.js";
import { contentOf, normaliseRecord, promptTexts } from "./rows.js";
import { type HashedRow, isTestRow, mixSource } from "./sampling.js";
import { tokenizeSplits } from "./tokenize-runner.js";

export const DATASET_PREFIX = "datasets";
/** Bumped when normalisation or the card changes, so old and new outputs never share an id. */
const FORMAT = "mambalign.dataset.v2";
const SAMPLE_SIZE = 10;
const PROGRESS_EVERY_ROWS = 50_000;

export interface PrepareContext {
  store: ObjectStore;
  catalog: DatasetCatalog;
  logger: Logger;
  metrics: Metrics;
  options: DatasetsOptions;
  /** Where local source paths may point (MAMBALIGN_DATA_ROOTS). */
  dataRoots: LocalRoots;
  hub: HubClient;
  /** Download and preparation progress (e.g. relayed as RunEvent log lines). */
  onProgress?: ProgressFn;
}

interface GoodRow extends HashedRow {
  text: string;
  /** sha256 of the compared content (messages, or prompt + completions). */
  key: string;
  /** The eval prompt a training row overlaps (checked while reading, so prompts are not kept). */
  contamination: Contamination | null;
}

interface BadRow extends QuarantinedRow {
  line: string;
}

/** One file's rows of a source, with the split it feeds ("train" or "test"). */
interface Part {
  role: "train" | "test";
  split: string;
  good: GoodRow[];
}

interface SourceRead {
  src: ResolvedSource;
  card: CardSource;
  parts: Part[];
  /** A Hub test split was read, so its train rows are not hash-split. */
  explicitTest: boolean;
}

function jsonl(lines: string[]): string {
  return lines.map((l) => `${l}\n`).join("");
}

function describeBad(bad: BadRow[]): string {
  return bad
    .slice(0, 3)
    .map((b) => `row ${b.row}: ${b.reason}`)
    .join("; ");
}

const roleOf = (split: string): "train" | "test" => (split.includes("test") ? "test" : "train");

/** Normalises the records of one file into `part`, quarantining bad ones. */
async function readPart(
  ctx: PrepareContext,
  src: ResolvedSource,
  loc: SourceLocation & { kind: "local" | "store" },
  uri: string,
  part: Part,
  state: { kind: DatasetKind },
  bad: BadRow[],
  counts: CardSource["rows"],
  scratch: string,
  decon: EvalIndex | null,
): Promise<void> {
  const started = performance.now();
  let n = 0;
  for await (const rec of readRecords(ctx.store, loc, uri, `${src.field}.uri`, scratch)) {
    n += 1;
    counts.read += 1;
    const source = part.split === "" ? src.uri : `${src.uri}:${part.split}`;
    if ("error" in rec) {
      bad.push({ source, row: rec.row, reason: rec.error, line: rec.raw });
      counts.quarantined += 1;
      continue;
    }
    const r = normaliseRecord(rec.value, state.kind);
    if (r.ok) {
      if (state.kind === DatasetKind.DATASET_KIND_UNSPECIFIED && r.kind !== undefined) state.kind = r.kind;
      const text = JSON.stringify(r.row);
      const contamination = decon && part.role === "train" ? decon.match(promptTexts(r.row)) : null;
      part.good.push({ row: rec.row, text, hash: sha256Hex(text), key: sha256Hex(contentOf(r.row)), contamination });
    } else {
      bad.push({ source, row: rec.row, reason: r.reason, line: rec.raw ?? JSON.stringify(rec.value) });
      counts.quarantined += 1;
    }
    if (n % PROGRESS_EVERY_ROWS === 0) {
      const rowsPerSec = Math.round(n / ((performance.now() - started) / 1000));
      ctx.logger.info({ source: uri, rows: n, rowsPerSec }, "reading dataset source");
      ctx.onProgress?.({ dataset: src.uri, file: uri, bytes: n, totalBytes: -1, cached: false, message: `read ${n} rows of ${uri} (${rowsPerSec} rows/s)` });
    }
  }
  ctx.logger.info({ source: uri, rows: n, rowsPerSec: Math.round(n / Math.max((performance.now() - started) / 1000, 1e-6)) }, "read dataset source");
}

async function readSource(
  ctx: PrepareContext,
  src: ResolvedSource,
  p: PrepareParams,
  state: { kind: DatasetKind },
  bad: BadRow[],
  scratch: string,
  decon: EvalIndex | null,
): Promise<SourceRead> {
  const counts = { read: 0, quarantined: 0, duplicates: 0, contaminated: 0, sampledOut: 0, train: 0, test: 0 };
  const card: CardSource = { uri: src.uri, fraction: src.fraction, files: [], rows: counts };
  const out: SourceRead = { src, card, parts: [], explicitTest: false };
  const badBefore = bad.length;
  const loc = src.location;
  if (loc.kind === "hub") {
    const explicit = p.splits !== null;
    const names = p.splits ?? splitsForKind(ctx.options, state.kind);
    // Train splits must exist; a default test split may be missing (test_fraction applies then).
    const wanted = names.map((name) => ({ name, required: explicit || roleOf(name) === "train" }));
    const staged = await stageHubDataset(ctx.store, ctx.hub, loc, wanted, scratch, `${src.field}.uri`, ctx.onProgress);
    card.hub = { repo: staged.repo, revision: staged.revision, commit: staged.commit };
    for (const f of staged.files) {
      card.files.push({ split: f.split, path: f.path, sha256: f.sha256, size: f.size });
      const part: Part = { role: roleOf(f.split), split: f.split, good: [] };
      await readPart(ctx, src, { kind: "local", path: f.local }, f.path, part, state, bad, counts, scratch, decon);
      out.parts.push(part);
      if (part.role === "test") out.explicitTest = true;
      await fsp.rm(f.local, { force: true });
    }
  } else {
    const part: Part = { role: "train", split: "", good: [] };
    await readPart(ctx, src, loc, src.uri, part, state, bad, counts, scratch, decon);
    out.parts.push(part);
  }
  if (out.parts.every((x) => x.good.length === 0)) {
    const mine = bad.slice(badBefore);
    const first = mine[0];
    if (!first) throw ApiError.invalidArgument(`${src.field}.uri`, `${src.uri} has no rows`, { key: src.uri });
    const what = state.kind === DatasetKind.DATASET_KIND_UNSPECIFIED ? "dataset" : datasetKindToJSON(state.kind);
    throw ApiError.invalidArgument(
      `${src.field}.uri`,
      `no valid ${what} rows in ${src.uri} (format unknown or every row bad): ${describeBad(mine)}`,
      { key: src.uri, row: first.row },
    );
  }
  return out;
}

interface Built {
  id: string;
  kind: DatasetKind;
  card: DatasetCard;
  train: GoodRow[];
  test: GoodRow[];
  bad: BadRow[];
  files: Record<"train.jsonl" | "test.jsonl" | "quarantine.jsonl", string>;
}

async function decontaminationIndex(ctx: PrepareContext): Promise<{ index: EvalIndex; files: string[] } | null> {
  const o = ctx.options;
  if (!o.benchDataDir) return null;
  return loadEvalIndex({ dir: o.benchDataDir, ngram: o.ngram, threshold: o.threshold });
}

async function tokenizerIdentity(ctx: PrepareContext): Promise<Record<string, unknown> | null> {
  const t = ctx.options.tokenize;
  if (!t) return null;
  const st = await fsp.stat(t.tokenizer).catch(() => null);
  const file = st?.isDirectory() ? path.join(t.tokenizer, "tokenizer.json") : t.tokenizer;
  const hash = await sha256File(file).catch(() => null);
  if (!hash) throw ApiError.failedPrecondition(`tokenizer: ${file} cannot be read (MAMBALIGN_DATASETS_TOKENIZER)`, { key: file });
  return { tokenizer: hash.sha256, chatTemplate: sha256Hex(t.chatTemplate), maxSeqLength: t.maxSeqLength, packing: t.packing, assistantOnly: t.assistantOnlyLoss };
}

async function buildContent(ctx: PrepareContext, p: PrepareParams, scratch: string): Promise<Built> {
  for (const src of p.sources) src.location = await checkSource(ctx.store, ctx.dataRoots, src.location, src.uri, `${src.field}.uri`);
  const decon = await decontaminationIndex(ctx);
  const state = { kind: p.kind };
  const bad: BadRow[] = [];
  const reads: SourceRead[] = [];
  for (const src of p.sources) reads.push(await readSource(ctx, src, p, state, bad, scratch, decon?.index ?? null));

  // Exact de-duplication on content (ids and scores ignored). Explicit test rows claim their
  // content first, so a training row never repeats a test row.
  const seen = new Set<string>();
  let duplicates = 0;
  const ordered = reads.flatMap((r) => r.parts.map((part) => ({ r, part }))).sort((a, b) => (a.part.role === b.part.role ? 0 : a.part.role === "test" ? -1 : 1));
  for (const { r, part } of ordered) {
    part.good = part.good.filter((g) => {
      if (seen.has(g.key)) {
        duplicates += 1;
        r.card.rows.duplicates += 1;
        return false;
      }
      seen.add(g.key);
      return true;
    });
  }

  // Decontamination: training rows only (a test split is not trained on).
  const contaminated: ContaminatedRow[] = [];
  if (decon) {
    for (const r of reads) {
      for (const part of r.parts.filter((x) => x.role === "train")) {
        part.good = part.good.filter((g) => {
          const m = g.contamination;
          if (!m) return true;
          contaminated.push({ source: r.src.uri, row: g.row, split: part.split || "train", evalId: m.evalId, overlap: Number(m.overlap.toFixed(4)) });
          r.card.rows.contaminated += 1;
          return false;
        });
      }
    }
  }

  // Mixing (fraction of each source's training rows, by seed), then the split.
  const train: GoodRow[] = [];
  const test: GoodRow[] = [];
  for (const [i, r] of reads.entries()) {
    const trainRows = r.parts.filter((x) => x.role === "train").flatMap((x) => x.good);
    const kept = mixSource(trainRows, r.src.fraction, p.seed, i);
    r.card.rows.sampledOut = trainRows.length - kept.length;
    for (const g of kept) {
      const toTest = !r.explicitTest && isTestRow(g.hash, p.seed, p.testFraction);
      (toTest ? test : train).push(g);
      r.card.rows[toTest ? "test" : "train"] += 1;
    }
    for (const g of r.parts.filter((x) => x.role === "test").flatMap((x) => x.good)) {
      test.push(g);
      r.card.rows.test += 1;
    }
  }
  if (train.length === 0) {
    throw ApiError.invalidArgument("test_fraction", `${p.testFraction} leaves no training rows (${test.length} test rows)`);
  }
  const files = {
    "train.jsonl": jsonl(train.map((r) => r.text)),
    "test.jsonl": jsonl(test.map((r) => r.text)),
    "quarantine.jsonl": jsonl(bad.map((b) => JSON.stringify({ source: b.source, row: b.row, reason: b.reason, line: b.line }))),
  };
  const o = ctx.options;
  // No timestamps or names: the card is part of the content, so it is a function of the id.
  const card: DatasetCard = {
    id: "",
    format: FORMAT,
    kind: datasetKindToJSON(state.kind),
    seed: p.seed,
    testFraction: p.testFraction,
    sources: reads.map((r) => r.card),
    splits: {
      train: { rows: train.length, sha256: sha256Hex(files["train.jsonl"]) },
      test: { rows: test.length, sha256: sha256Hex(files["test.jsonl"]) },
    },
    duplicates: { removed: duplicates },
    decontamination: {
      enabled: decon !== null,
      against: decon?.files ?? [],
      ngram: o.ngram,
      threshold: o.threshold,
      removed: contaminated.length,
      rows: contaminated,
    },
    quarantine: { rows: bad.length, sample: bad.slice(0, SAMPLE_SIZE).map(({ source, row, reason }) => ({ source, row, reason })) },
    tokens: null,
  };
  const id = sha256Hex(JSON.stringify({ card, quarantine: sha256Hex(files["quarantine.jsonl"]), tokenize: await tokenizerIdentity(ctx) }));
  card.id = id;
  return { id, kind: state.kind, card, train, test, bad, files };
}

/** Tokenises both splits into `dir/tokens/` and adds the statistics and histogram to the card. */
async function tokenize(ctx: PrepareContext, built: Built, dir: string): Promise<void> {
  const t = ctx.options.tokenize;
  if (!t) return;
  const kind = built.kind === DatasetKind.DATASET_KIND_PREFERENCE ? "preference" : "sft";
  const started = performance.now();
  const stats = await tokenizeSplits({
    python: ctx.options.python,
    tokenize: t,
    splits: (["train", "test"] as const).filter((s) => built[s].length > 0).map((split) => ({ split, input: path.join(dir, `${split}.jsonl`) })),
    outDir: path.join(dir, "tokens"),
    scratch: path.dirname(dir),
    kind,
    logger: ctx.logger,
  });
  const rate = Math.round(stats.reduce((n, s) => n + s.documents, 0) / Math.max((performance.now() - started) / 1000, 1e-6));
  ctx.logger.info({ splits: stats.map((s) => s.split), sequencesPerSec: rate }, "tokenised dataset");
  const first = stats[0];
  if (!first) return;
  built.card.tokens = {
    tokenizerSha256: first.tokenizerSha256,
    chatTemplateSha256: first.chatTemplateSha256,
    maxLength: first.maxLength,
    packing: first.packing,
    assistantOnly: first.assistantOnly,
    dir: "tokens/",
    histogramPng: HISTOGRAM_FILE,
    splits: Object.fromEntries(stats.map(({ rowsPerSecond: _r, tokenizerSha256: _t, chatTemplateSha256: _c, ...rest }) => [rest.split, rest])),
  };
  await fsp.writeFile(path.join(dir, HISTOGRAM_FILE), await histogramPng(stats.map((s) => ({ split: s.split, histogram: s.histogram }))));
}

async function writeVersion(ctx: PrepareContext, prefix: string, built: Built, dir: string): Promise<void> {
  for (const [name, text] of Object.entries(built.files)) await fsp.writeFile(path.join(dir, name), text);
  await tokenize(ctx, built, dir);
  await fsp.writeFile(path.join(dir, "card.json"), `${JSON.stringify(built.card, null, 2)}\n`);
  // Files first, manifest.json last and create-only: an interrupted write never looks complete,
  // and a complete version is never overwritten.
  await uploadDirWithManifest(ctx.store, prefix, dir);
}

export async function prepareDataset(ctx: PrepareContext, p: PrepareParams): Promise<DatasetVersion> {
  const started = performance.now();
  // Hub files and shards can be large: scratch space lives in the work dir, not /tmp.
  await fsp.mkdir(ctx.options.workDir, { recursive: true });
  const scratch = await fsp.mkdtemp(path.join(ctx.options.workDir, "dataset-"));
  try {
    const built = await buildContent(ctx, p, scratch);
    const { id } = built;
    const prefix = `${DATASET_PREFIX}/${id}`;
    let version = await ctx.catalog.get(id);
    if (version) {
      ctx.logger.info({ id, name: p.name }, "dataset version exists; nothing rewritten");
    } else {
      const dir = path.join(scratch, "version");
      await fsp.mkdir(dir);
      await writeVersion(ctx, prefix, built, dir);
      version = await ctx.catalog.create(
        DatasetVersion.fromPartial({
          id,
          name: p.name,
          kind: built.kind,
          splits: (["train", "test"] as const).map((split) => ({
            name: split,
            rows: built[split].length,
            key: `${prefix}/${split}.jsonl`,
            sha256: sha256Hex(built.files[`${split}.jsonl`]),
          })),
          quarantinedRows: built.bad.length,
          quarantineKey: built.bad.length > 0 ? `${prefix}/quarantine.jsonl` : "",
          quarantineSample: built.card.quarantine.sample,
          sources: p.sources.map((s) => ({ uri: s.uri, fraction: s.fraction })),
          createdAt: new Date(),
          uri: `${ctx.store.uri(prefix)}/`,
        }),
      );
      const m = ctx.metrics;
      const rows = m.counter("mambalign_dataset_rows_total", "dataset rows prepared, by split", ["service", "split"]);
      rows.inc({ service: "datasets", split: "train" }, built.train.length);
      rows.inc({ service: "datasets", split: "test" }, built.test.length);
      m.counter("mambalign_dataset_rows_quarantined_total", "dataset rows quarantined as invalid", ["service"]).inc({ service: "datasets" }, built.bad.length);
      m.counter("mambalign_dataset_rows_duplicate_total", "dataset rows removed as exact duplicates", ["service"]).inc({ service: "datasets" }, built.card.duplicates.removed);
      m.counter("mambalign_dataset_rows_contaminated_total", "training rows removed as overlapping eval prompts", ["service"]).inc(
        { service: "datasets" },
        built.card.decontamination.removed,
      );
    }
    if (p.name !== "") await ctx.catalog.setLatest(p.name, id);
    const seconds = (performance.now() - started) / 1000;
    const read = built.card.sources.reduce((n, s) => n + s.rows.read, 0);
    ctx.logger.info(
      {
        id,
        name: p.name,
        train: built.train.length,
        test: built.test.length,
        quarantined: built.bad.length,
        duplicates: built.card.duplicates.removed,
        contaminated: built.card.decontamination.removed,
        seconds: Number(seconds.toFixed(3)),
        rowsPerSec: Math.round(read / Math.max(seconds, 1e-6)),
      },
      "dataset prepared",
    );
    return version;
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}
