// Test helper: the inputs of a short real run (tiny Mamba on CPU: SFT -> merge -> DPO -> eval with MT-Bench and
// AlpacaEval 2.0), written into a directory the CLI runs from.
import { writeFile } from "node:fs/promises";
import path from "node:path";

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const SFT = Array.from({ length: 32 }, (_, i) => ({ messages: [{ role: "user", content: `reverse w${i}x` }, { role: "assistant", content: `x${i}w` }] }));
const PREFS = Array.from({ length: 32 }, (_, i) => ({ prompt: [{ role: "user", content: `reverse p${i}q` }], chosen: [{ role: "assistant", content: `q${i}p` }], rejected: [{ role: "assistant", content: `p${i}q` }] }));

/** The recipe (named `name`) over ./sft.jsonl and ./prefs.jsonl. */
export function tinyRunRecipe(name: string): string {
  return `name: ${name}
model_name_or_path: preset:tiny-mamba-char
stages: [sft, merge, dpo, eval]
datasets: { sft-data: ./sft.jsonl, prefs: ./prefs.jsonl }
torch_dtype: float32
use_peft: true
logging_steps: 1
sft: { dataset_mixer: { sft-data: 1.0 }, max_steps: 3, per_device_train_batch_size: 8 }
dpo: { dataset_mixer: { prefs: 1.0 }, max_steps: 3, per_device_train_batch_size: 8 }
eval: { benchmarks: [mt_bench, alpaca_eval_v2], limit: 2, max_new_tokens: 8 }
`;
}

/** Writes sft.jsonl, prefs.jsonl and recipe.yaml (the recipe named `name`) into `dir`. */
export async function writeTinyRun(dir: string, name: string): Promise<void> {
  await writeFile(path.join(dir, "sft.jsonl"), jsonl(SFT));
  await writeFile(path.join(dir, "prefs.jsonl"), jsonl(PREFS));
  await writeFile(path.join(dir, "recipe.yaml"), tinyRunRecipe(name));
}
