// cli — `mambalign eval alpaca-score --lc-data DIR`: LC only with AlpacaEval's difficulty data; otherwise a figure
// under another name and the reason.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { runCli } from "./program.js";
import { collect } from "../test-support/collect-output.js";

test("mambalign eval alpaca-score — LC with --lc-data, a differently named length adjustment without it", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "mambalign-alpaca-lc-"));
  try {
    const n = 40;
    const rows = Array.from({ length: n }, (_, i) => ({
      instruction: `question ${i}`,
      output_1: "r".repeat(200 + ((i * 37) % 300)),
      output_2: "m".repeat(150 + ((i * 71) % 500)),
      generator_1: "gpt4_1106_preview",
      generator_2: "demo-dpo",
      preference: i % 4 === 0 ? "1.5" : 1 + ((i * 13) % 10) / 10,
    }));
    const file = path.join(dir, "annotations.json");
    await writeFile(file, JSON.stringify(rows));
    const lcDir = path.join(dir, "lc");
    await mkdir(lcDir);
    const difficulty = (i: number) => ((i * 7) % 5) / 2 - 1;
    await writeFile(path.join(lcDir, "instruction_difficulty.csv"), ["index,instruction_difficulty", ...rows.map((_, i) => `${i},${difficulty(i)}`)].join("\n"));
    const gamed = [-1, 1].flatMap((s) => rows.map((_, i) => `${i},${s < 0 ? 0.8 : 0.2},${s * (0.5 + (i % 3) / 2)},${difficulty(i)},False,g${s}`));
    await writeFile(path.join(lcDir, "df_gamed.csv"), ["index,preference,std_delta_len,instruction_difficulty,not_gamed_baseline,model", ...gamed].join("\n"));

    const withLc = collect();
    const err = collect();
    assert.equal(await runCli(["eval", "alpaca-score", "--annotations", file, "--lc-data", lcDir], { out: withLc, err, env: {}, cwd: dir }), 0, err.text());
    assert.match(withLc.text(), /LC as AlpacaEval's length_controlled_v1/);
    assert.doesNotMatch(withLc.text(), /length-adjusted/);

    const without = collect();
    assert.equal(await runCli(["eval", "alpaca-score", "--annotations", file], { out: without, err, env: {}, cwd: dir }), 0, err.text());
    assert.match(without.text(), /length-adjusted \(no difficulty\)/);
    assert.match(without.text(), /no LC win rate \(no AlpacaEval LC data given \(--lc-data/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
