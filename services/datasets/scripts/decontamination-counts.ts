// Contamination counts of the decontamination rule on known sets:
//   node --conditions=development --import tsx services/datasets/scripts/decontamination-counts.ts [bench-data-dir] [clean.jsonl]
// Rows checked: the eval prompts themselves (all should be found), each benchmark against the
// other, the benchmarks' reference answers, and a clean SFT JSONL (e.g. the runtime's demo data).
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { BENCH_DATA_DIR } from "@mambalign/core/testing";
import { EvalIndex, loadEvalPrompts } from "../src/decontaminate.js";
import { promptTexts } from "../src/rows.js";

const shared = path.resolve(process.argv[2] ?? BENCH_DATA_DIR);
const cleanFile = process.argv[3];
const { prompts } = await loadEvalPrompts(shared);
const mt = prompts.filter((p) => p.id.startsWith("mt_bench:"));
const alpaca = prompts.filter((p) => p.id.startsWith("alpaca_eval:"));
const outputs: string[] = [];
for (const f of ["reference_text_davinci_003.json", "reference_gpt4_1106_preview.json"]) {
  outputs.push(...(JSON.parse(await fsp.readFile(path.join(shared, "alpaca_eval", f), "utf8")) as { output: string }[]).map((r) => r.output));
}
for (const line of (await fsp.readFile(path.join(shared, "mt_bench/reference_answer_gpt-4.jsonl"), "utf8")).split("\n").filter(Boolean)) {
  outputs.push(...(JSON.parse(line) as { choices: { turns: string[] }[] }).choices[0]!.turns);
}
const clean = cleanFile
  ? (await fsp.readFile(cleanFile, "utf8")).split("\n").filter(Boolean).map((l) => promptTexts(JSON.parse(l) as Record<string, unknown>).join("\n"))
  : [];
const sets: [string, string[]][] = [
  ["eval prompts themselves (160 MT-Bench turns + 805 AlpacaEval)", prompts.map((p) => p.text)],
  ["MT-Bench turns vs AlpacaEval only", mt.map((p) => p.text)],
  ["reference answers (AlpacaEval x2 + MT-Bench GPT-4)", outputs],
  ...(cleanFile ? [[`clean set ${path.basename(cleanFile)}`, clean] as [string, string[]]] : []),
];
for (const [n, t] of [[8, 0.5], [13, 0.5], [8, 0.8]] as const) {
  const all = new EvalIndex(prompts, n, t);
  const onlyAlpaca = new EvalIndex(alpaca, n, t);
  console.log(`n=${n} threshold=${t}`);
  for (const [name, texts] of sets) {
    const index = name.includes("vs AlpacaEval") ? onlyAlpaca : all;
    const hits = texts.filter((x) => index.match([x]) !== null).length;
    console.log(`  ${name.padEnd(62)} ${String(hits).padStart(5)} / ${texts.length}`);
  }
}
