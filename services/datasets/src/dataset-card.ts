// The dataset card: what a version was made from and what preparation did to it, stored as
// `datasets/<id>/card.json` (with the token-length histogram as `token-lengths.png`), and its
// text rendering for `mambalign datasets show VERSION`.
import * as path from "node:path";
import type { ObjectStore, QuarantinedRow } from "@mambalign/core";
import type { Histogram } from "./histogram-png.js";
import type { TokenStats } from "./tokenize-runner.js";

export const CARD_FILE = "card.json";
export const HISTOGRAM_FILE = "token-lengths.png";

export interface CardSourceFile {
  split: string;
  path: string;
  sha256: string;
  size: number;
}

export interface SourceCounts {
  /** Records read (good and bad). */
  read: number;
  quarantined: number;
  duplicates: number;
  contaminated: number;
  /** Rows dropped by the dataset_mixer fraction. */
  sampledOut: number;
  train: number;
  test: number;
}

export interface CardSource {
  uri: string;
  fraction: number;
  /** Set for Hub datasets: what was asked for and the commit it resolved to. */
  hub?: { repo: string; revision: string; commit: string };
  /** Hub files read, by split (empty for a single local or s3:// file). */
  files: CardSourceFile[];
  rows: SourceCounts;
}

export interface ContaminatedRow {
  source: string;
  row: number;
  split: string;
  /** The eval prompt it overlaps, e.g. "alpaca_eval:17" or "mt_bench:81:turn1". */
  evalId: string;
  overlap: number;
}

export interface DatasetCard {
  id: string;
  format: string;
  kind: string;
  seed: number;
  testFraction: number;
  sources: CardSource[];
  splits: Record<"train" | "test", { rows: number; sha256: string }>;
  duplicates: { removed: number };
  decontamination: {
    enabled: boolean;
    /** Eval files read, relative to the benchmark data directory. */
    against: string[];
    ngram: number;
    threshold: number;
    removed: number;
    rows: ContaminatedRow[];
  };
  quarantine: { rows: number; sample: QuarantinedRow[] };
  /** Null when the version was not tokenised at preparation. */
  tokens: {
    tokenizerSha256: string;
    chatTemplateSha256: string;
    maxLength: number;
    packing: boolean;
    assistantOnly: boolean;
    /** Shard prefix inside the version: `tokens/`. */
    dir: string;
    histogramPng: string;
    splits: Record<string, Omit<TokenStats, "rowsPerSecond" | "tokenizerSha256" | "chatTemplateSha256">>;
  } | null;
}

export async function loadDatasetCard(store: ObjectStore, prefix: string): Promise<DatasetCard> {
  return JSON.parse((await store.get(`${prefix}/${CARD_FILE}`)).toString("utf8")) as DatasetCard;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function histogramText(h: Histogram, width = 40): string[] {
  const max = Math.max(1, ...h.counts);
  const lines: string[] = [];
  h.counts.forEach((c, i) => {
    if (c === 0 && i > 0 && h.counts.slice(i).every((x) => x === 0)) return;
    const lo = h.edges[i] ?? 0;
    const hi = (h.edges[i + 1] ?? lo + 1) - 1;
    lines.push(`    ${`${lo}-${hi}`.padStart(11)} ${"#".repeat(Math.round((c / max) * width)).padEnd(width)} ${c}`);
  });
  return lines;
}

/** The card as text for a terminal; `pngPath` names where the histogram PNG was saved, if it was. */
export function renderDatasetCard(card: DatasetCard, pngPath = ""): string {
  const out: string[] = [];
  out.push(`dataset ${card.id}`, `  kind ${card.kind}   seed ${card.seed}   test_fraction ${card.testFraction}   (${card.format})`);
  out.push(`  splits: train ${card.splits.train.rows} rows, test ${card.splits.test.rows} rows`);
  out.push("  sources:");
  for (const s of card.sources) {
    const rev = s.hub ? ` @ ${s.hub.revision} (commit ${s.hub.commit})` : "";
    out.push(`    ${s.hub?.repo ?? s.uri}${rev}   fraction ${s.fraction}`);
    const r = s.rows;
    out.push(
      `      read ${r.read}, quarantined ${r.quarantined}, duplicates ${r.duplicates}, contaminated ${r.contaminated}, ` +
        `sampled out ${r.sampledOut} -> train ${r.train}, test ${r.test}`,
    );
    for (const f of s.files) out.push(`      [${f.split}] ${f.path} (${f.size} bytes, sha256 ${f.sha256.slice(0, 12)}…)`);
  }
  out.push(`  duplicates removed: ${card.duplicates.removed}`);
  const d = card.decontamination;
  if (d.enabled) {
    out.push(`  decontamination: ${d.removed} rows removed (word ${d.ngram}-grams, overlap >= ${d.threshold}; against ${d.against.join(", ")})`);
    for (const c of d.rows.slice(0, 20)) out.push(`    ${c.source} row ${c.row} [${c.split}] ~ ${c.evalId} (${pct(c.overlap)})`);
    if (d.rows.length > 20) out.push(`    … ${d.rows.length - 20} more in card.json`);
  } else {
    out.push("  decontamination: off (no benchmark data directory configured)");
  }
  out.push(`  quarantined rows: ${card.quarantine.rows}`);
  for (const q of card.quarantine.sample) out.push(`    ${q.source} row ${q.row}: ${q.reason}`);
  const t = card.tokens;
  if (t) {
    out.push(
      `  tokens: max length ${t.maxLength}, ${t.packing ? "packed" : "padded"}, loss on ${t.assistantOnly ? "assistant turns" : "all tokens"}; ` +
        `tokenizer sha256 ${t.tokenizerSha256.slice(0, 12)}…`,
    );
    for (const [name, s] of Object.entries(t.splits)) {
      out.push(`    ${name}: ${s.documents} sequences, ${s.tokens} tokens, truncated ${s.truncated} (${pct(s.truncationRate)}), ${s.rows} rows in ${s.shards.length} shards`);
      out.push(`    token lengths (${name}):`, ...histogramText(s.histogram));
    }
    out.push(`  histogram PNG: ${pngPath || `${t.histogramPng} in the version`}`);
  } else {
    out.push("  tokens: not tokenised at preparation");
  }
  return `${out.join("\n")}\n`;
}

/**
 * Everything `mambalign datasets show VERSION` prints: the card text, with the histogram PNG
 * saved to `pngDir` (when the version has one) and its path named in the text.
 */
export async function showDatasetCard(
  store: ObjectStore,
  versionPrefix: string,
  pngDir: string,
): Promise<{ text: string; card: DatasetCard; pngPath: string }> {
  const card = await loadDatasetCard(store, versionPrefix);
  let pngPath = "";
  if (card.tokens) {
    pngPath = path.join(pngDir, `${card.id.slice(0, 12)}-${HISTOGRAM_FILE}`);
    await store.getFile(`${versionPrefix}/${card.tokens.histogramPng}`, pngPath);
  }
  return { text: renderDatasetCard(card, pngPath), card, pngPath };
}
