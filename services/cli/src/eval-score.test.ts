// cli — `mambalign eval alpaca-score`: scores an AlpacaEval annotations file offline.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { runCli } from "./program.js";
import { collect } from "../test-support/collect-output.js";

test("mambalign eval alpaca-score — prints the win rate of an annotations file, ties counting half", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "mambalign-alpaca-"));
  try {
    // Model under test is generator_2; preferences 2 (win), 1 (loss), 1.5 (tie), 2 (win) -> (1 + 0 + 0.5 + 1) / 4.
    const prefs = [2, 1, 1.5, 2];
    const rows = prefs.map((preference, i) => ({
      instruction: `question ${i}`,
      output_1: `reference answer ${i}`,
      output_2: `model answer ${i}`,
      generator_1: "text_davinci_003",
      generator_2: "demo-dpo",
      preference,
    }));
    const file = path.join(dir, "annotations.json");
    await writeFile(file, JSON.stringify(rows));
    const out = collect();
    const err = collect();
    const code = await runCli(["eval", "alpaca-score", "--annotations", file], { out, err, env: {}, cwd: dir });
    assert.equal(code, 0, err.text());
    assert.match(out.text(), /62\.5/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("mambalign eval alpaca-score --json — prints the scores as data", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "mambalign-alpaca-json-"));
  try {
    const rows = [2, 1].map((preference, i) => ({ instruction: `q${i}`, output_1: "a", output_2: "b", generator_1: "ref", generator_2: "demo-dpo", preference }));
    const file = path.join(dir, "annotations.json");
    await writeFile(file, JSON.stringify(rows));
    const out = collect();
    const err = collect();
    const code = await runCli(["eval", "alpaca-score", "--annotations", file, "--json"], { out, err, env: {}, cwd: dir });
    assert.equal(code, 0, err.text());
    const [scores] = JSON.parse(out.text()) as { model: string; winRate: number }[];
    assert.equal(scores!.model, "demo-dpo");
    assert.equal(scores!.winRate, 50);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
