// Preparation throughput, side by side with `datasets` in one run:
//   node --conditions=development --import tsx services/datasets/scripts/bench-prepare.ts [rows] [bench-data-dir]
// Ours: PrepareDataset on an UltraChat-layout Parquet file (read, normalise, de-duplicate,
// decontaminate against MT-Bench + AlpacaEval, split, tokenise with the Zephyr template,
// pack to 2048, store). Theirs: datasets.load_dataset("parquet") + .map(apply_chat_template +
// the Rust tokenizer, num_proc = cores). Needs MAMBALIGN_PYTHON with `datasets` installed
// (a benchmark-only dependency) and mambalign_runtime on PYTHONPATH.
import { spawnSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { DatasetKind } from "@mambalign/core";
import { BENCH_DATA_DIR, NEOX_TOKENIZER_DIR } from "@mambalign/core/testing";
import { DatasetCatalog } from "../src/dataset-catalog.js";
import { loadDatasetCard } from "../src/dataset-card.js";
import { datasetsOptionsFromEnv } from "../src/datasets-options.js";
import { HubClient } from "../src/hub-client.js";
import { prepareDataset } from "../src/prepare-dataset.js";
import { locateSource } from "../src/read-source.js";
import { startTestEnv } from "../test-support/test-env.js";
import { ultrachatParquet } from "../test-support/parquet-fixtures.js";

const rows = Number(process.argv[2] ?? 20000);
const shared = path.resolve(process.argv[3] ?? BENCH_DATA_DIR);
const repo = path.resolve(import.meta.dirname, "../../..");
const python = process.env.MAMBALIGN_PYTHON ?? path.join(repo, ".venv/bin/python");
process.env.PYTHONPATH = path.join(repo, "services/runtime");

// Conversations from the benchmarks' reference answers: prompt = one model's answer, reply = another's.
// (The eval instructions themselves would all be removed by decontamination.)
const a = JSON.parse(await fsp.readFile(path.join(shared, "alpaca_eval/reference_text_davinci_003.json"), "utf8")) as { output: string }[];
const b = JSON.parse(await fsp.readFile(path.join(shared, "alpaca_eval/reference_gpt4_1106_preview.json"), "utf8")) as { output: string }[];
const base = a.map((r, i) => ({ q: `Summarise this text:\n${r.output}`, ans: b[i]!.output }));
const data = Array.from({ length: rows }, (_, i) => {
  const x = base[i % base.length]!;
  const q = `${x.q}\n(request ${i})`;
  return { prompt: q, messages: [{ role: "user", content: q }, { role: "assistant", content: x.ans }] };
});
const env = await startTestEnv("fs");
try {
  const file = path.join(env.tmp, "ultrachat.parquet");
  await fsp.writeFile(file, ultrachatParquet(data));
  const options = {
    ...datasetsOptionsFromEnv({}),
    benchDataDir: shared,
    tokenize: { tokenizer: path.join(NEOX_TOKENIZER_DIR, "tokenizer.json"), chatTemplate: "", maxSeqLength: 2048, packing: true, assistantOnlyLoss: false },
    python,
    workDir: path.join(env.tmp, "work"),
  };
  const ctx = { store: env.deps.store, catalog: await DatasetCatalog.open(env.deps.bus), logger: env.deps.logger, metrics: env.deps.metrics, options, hub: new HubClient(options.hub) };
  const params = { sources: [{ uri: file, fraction: 1, field: "sources[0]", location: locateSource(env.deps.store, file, "sources[0].uri") }], kind: DatasetKind.DATASET_KIND_SFT, testFraction: 0.01, seed: 1, name: "", splits: null };
  const t0 = performance.now();
  const v = await prepareDataset(ctx, params);
  const ours = (performance.now() - t0) / 1000;
  const card = await loadDatasetCard(env.deps.store, `datasets/${v.id}`);
  const withoutTokens = { ...options, tokenize: null };
  const t1 = performance.now();
  await prepareDataset({ ...ctx, options: withoutTokens }, params);
  const oursNoTok = (performance.now() - t1) / 1000;

  const py = `
import time, os, datasets
from mambalign_runtime.tokenize import load_tokenizer
tok = load_tokenizer(${JSON.stringify(options.tokenize.tokenizer)})
datasets.disable_caching()
def f(batch):
    texts = [tok.render(m) for m in batch["messages"]]
    return {"input_ids": [e.ids[:2048] for e in tok.encode_batch(texts)]}
t = time.perf_counter()
ds = datasets.load_dataset("parquet", data_files=${JSON.stringify(file)}, split="train")
ds = ds.map(f, batched=True, batch_size=1000, num_proc=os.cpu_count(), remove_columns=ds.column_names)
print(f"{len(ds)} {time.perf_counter() - t:.3f} {datasets.__version__}")
`;
  const r = spawnSync(python, ["-c", py], { encoding: "utf8", env: { ...process.env, LOG_LEVEL: "WARNING" } });
  if (r.status !== 0) throw new Error(`datasets side failed: ${r.stderr.slice(-2000)}`);
  const [n, secs, version] = r.stdout.trim().split("\n").at(-1)!.split(" ");
  console.log(`rows=${rows} cores=${os.cpus().length} contaminated=${card.decontamination.removed} duplicates=${card.duplicates.removed} truncated=${card.tokens?.splits.train?.truncated}`);
  console.log(`${"mambalign prepare (read+clean+decontaminate+split+tokenise+pack+store)".padEnd(72)} ${(rows / ours).toFixed(0).padStart(8)} rows/s`);
  console.log(`${"mambalign prepare without tokenisation".padEnd(72)} ${(rows / oursNoTok).toFixed(0).padStart(8)} rows/s`);
  console.log(`${`datasets ${version} load_dataset(parquet) + map(template + Rust tokenizer)`.padEnd(72)} ${(Number(n) / Number(secs)).toFixed(0).padStart(8)} rows/s`);
} finally {
  await env.stop();
}
