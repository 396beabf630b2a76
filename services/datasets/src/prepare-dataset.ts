// PrepareDataset: read sources, validate rows (quarantining bad ones), mix, split, and store a
// content-addressed version. Everything is checked before the first write, so a rejected
// request writes nothing.
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import {
  ApiError,
  DatasetKind,
  datasetKindToJSON,
  DatasetVersion,
  type Metrics,
  type ObjectStore,
  type QuarantinedRow,
  sha256Hex,
  uploadDirWithManifest,
} from "@mambalign/core";
import type { Logger } from "pino";
import type { DatasetCatalog } from "./dataset-catalog.js";
import type { PrepareParams, ResolvedSource } from "./prepare-request.js";
import { checkSourceExists, readLines } from "./read-source.js";
import { normaliseLine } from "./rows.js";
import { type HashedRow, isTestRow, mixSource } from "./sampling.js";

export const DATASET_PREFIX = "datasets";
/** Bumped when normalisation changes, so old and new outputs never share an id. */
const FORMAT = "mambalign.dataset.v1";
const SAMPLE_SIZE = 10;
const PROGRESS_EVERY_ROWS = 50_000;

export interface PrepareContext {
  store: ObjectStore;
  catalog: DatasetCatalog;
  logger: Logger;
  metrics: Metrics;
}

interface GoodRow extends HashedRow {
  text: string;
}

interface BadRow extends QuarantinedRow {
  line: string;
}

interface SourceRows {
  good: GoodRow[];
  bad: BadRow[];
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

/** Reads and validates one source; the kind is fixed by the first row of known shape when unspecified. */
async function readSource(
  ctx: PrepareContext,
  src: ResolvedSource,
  state: { kind: DatasetKind },
): Promise<SourceRows> {
  const out: SourceRows = { good: [], bad: [] };
  const started = performance.now();
  for await (const { row, line } of readLines(ctx.store, src.location)) {
    if (line.trim() === "") continue; // blank lines are not rows (a trailing newline, say)
    const r = normaliseLine(line, state.kind);
    if (r.ok) {
      if (state.kind === DatasetKind.DATASET_KIND_UNSPECIFIED && r.kind !== undefined) state.kind = r.kind;
      const text = JSON.stringify(r.row);
      out.good.push({ row, text, hash: sha256Hex(text) });
    } else {
      out.bad.push({ source: src.uri, row, reason: r.reason, line });
    }
    const n = out.good.length + out.bad.length;
    if (n % PROGRESS_EVERY_ROWS === 0) {
      ctx.logger.info({ source: src.uri, rows: n, rowsPerSec: Math.round(n / ((performance.now() - started) / 1000)) }, "reading dataset source");
    }
  }
  const secs = (performance.now() - started) / 1000;
  const n = out.good.length + out.bad.length;
  ctx.logger.info(
    { source: src.uri, rows: n, valid: out.good.length, quarantined: out.bad.length, rowsPerSec: Math.round(n / Math.max(secs, 1e-6)) },
    "read dataset source",
  );
  if (out.good.length === 0) {
    const first = out.bad[0];
    if (!first) throw ApiError.invalidArgument(`${src.field}.uri`, `${src.uri} has no rows`, { key: src.uri });
    const what = state.kind === DatasetKind.DATASET_KIND_UNSPECIFIED ? "dataset" : datasetKindToJSON(state.kind);
    throw ApiError.invalidArgument(
      `${src.field}.uri`,
      `no valid ${what} rows in ${src.uri} (format unknown or every row bad): ${describeBad(out.bad)}`,
      { key: src.uri, row: first.row },
    );
  }
  return out;
}

interface Prepared {
  id: string;
  kind: DatasetKind;
  files: Record<"train.jsonl" | "test.jsonl" | "quarantine.jsonl" | "card.json", string>;
  train: GoodRow[];
  test: GoodRow[];
  bad: BadRow[];
}

async function buildContent(ctx: PrepareContext, p: PrepareParams): Promise<Prepared> {
  for (const src of p.sources) await checkSourceExists(ctx.store, src.location, src.uri, `${src.field}.uri`);
  const state = { kind: p.kind };
  const train: GoodRow[] = [];
  const test: GoodRow[] = [];
  const bad: BadRow[] = [];
  for (const [i, src] of p.sources.entries()) {
    const rows = await readSource(ctx, src, state);
    bad.push(...rows.bad);
    for (const r of mixSource(rows.good, src.fraction, p.seed, i)) {
      (isTestRow(r.hash, p.seed, p.testFraction) ? test : train).push(r);
    }
  }
  if (train.length === 0) {
    throw ApiError.invalidArgument("test_fraction", `${p.testFraction} leaves no training rows (${test.length} test rows)`);
  }
  const trainText = jsonl(train.map((r) => r.text));
  const testText = jsonl(test.map((r) => r.text));
  const quarantineText = jsonl(bad.map((b) => JSON.stringify({ source: b.source, row: b.row, reason: b.reason, line: b.line })));
  const params = {
    format: FORMAT,
    kind: datasetKindToJSON(state.kind),
    seed: p.seed,
    testFraction: p.testFraction,
    sources: p.sources.map((s) => ({ uri: s.uri, fraction: s.fraction })),
  };
  const digests = { train: sha256Hex(trainText), test: sha256Hex(testText), quarantine: sha256Hex(quarantineText) };
  const id = sha256Hex(JSON.stringify({ ...params, ...digests }));
  // No timestamps or names: the card is part of the content, so it must be a function of the id.
  const card = {
    id,
    ...params,
    splits: {
      train: { rows: train.length, sha256: digests.train },
      test: { rows: test.length, sha256: digests.test },
    },
    quarantinedRows: bad.length,
  };
  return {
    id,
    kind: state.kind,
    train,
    test,
    bad,
    files: {
      "train.jsonl": trainText,
      "test.jsonl": testText,
      "quarantine.jsonl": quarantineText,
      "card.json": `${JSON.stringify(card, null, 2)}\n`,
    },
  };
}

async function writeVersion(store: ObjectStore, prefix: string, files: Prepared["files"]): Promise<void> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-dataset-"));
  try {
    for (const [name, text] of Object.entries(files)) await fsp.writeFile(path.join(dir, name), text);
    // Files first, manifest.json last and create-only: an interrupted write never looks complete,
    // and a complete version is never overwritten.
    await uploadDirWithManifest(store, prefix, dir);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

export async function prepareDataset(ctx: PrepareContext, p: PrepareParams): Promise<DatasetVersion> {
  const started = performance.now();
  const prepared = await buildContent(ctx, p);
  const { id } = prepared;
  const prefix = `${DATASET_PREFIX}/${id}`;
  let version = await ctx.catalog.get(id);
  if (version) {
    ctx.logger.info({ id, name: p.name }, "dataset version exists; nothing rewritten");
  } else {
    await writeVersion(ctx.store, prefix, prepared.files);
    version = await ctx.catalog.create(
      DatasetVersion.fromPartial({
        id,
        name: p.name,
        kind: prepared.kind,
        splits: (["train", "test"] as const).map((split) => ({
          name: split,
          rows: prepared[split].length,
          key: `${prefix}/${split}.jsonl`,
          sha256: sha256Hex(prepared.files[`${split}.jsonl`]),
        })),
        quarantinedRows: prepared.bad.length,
        quarantineKey: prepared.bad.length > 0 ? `${prefix}/quarantine.jsonl` : "",
        quarantineSample: prepared.bad.slice(0, SAMPLE_SIZE).map(({ source, row, reason }) => ({ source, row, reason })),
        sources: p.sources.map((s) => ({ uri: s.uri, fraction: s.fraction })),
        createdAt: new Date(),
        uri: `${ctx.store.uri(prefix)}/`,
      }),
    );
    const rows = ctx.metrics.counter("mambalign_dataset_rows_total", "dataset rows prepared, by split", ["service", "split"]);
    rows.inc({ service: "datasets", split: "train" }, prepared.train.length);
    rows.inc({ service: "datasets", split: "test" }, prepared.test.length);
    ctx.metrics
      .counter("mambalign_dataset_rows_quarantined_total", "dataset rows quarantined as invalid", ["service"])
      .inc({ service: "datasets" }, prepared.bad.length);
  }
  if (p.name !== "") await ctx.catalog.setLatest(p.name, id);
  ctx.logger.info(
    {
      id,
      name: p.name,
      train: prepared.train.length,
      test: prepared.test.length,
      quarantined: prepared.bad.length,
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
    },
    "dataset prepared",
  );
  return version;
}
