// cli — `mambalign adapters export`: a version trained through the real embedded control plane,
// exported here as a PEFT directory and as a merged model, and loaded by Python (peft, transformers).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { defaultPython, REPO_ROOT } from "./embedded/embedded-system.js";
import { startTestSystem, type TestSystem } from "../test-support/embedded-system.js";

const WORDS = ["abc", "hello", "mamba", "lora", "peft", "xyz", "run", "zephyr"];
const reverse = (w: string) => [...w].reverse().join("");
const PREF = (w: string) =>
  JSON.stringify({ prompt: [{ role: "user", content: w }], chosen: [{ role: "assistant", content: reverse(w) }], rejected: [{ role: "assistant", content: w }] });
const ROW = (w: string) => JSON.stringify({ messages: [{ role: "user", content: w }, { role: "assistant", content: [...w].reverse().join("") }] });

// The adapter applied to the preset base and the merged model give the same logits.
const CHECK = `
import sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
from mambalign_runtime.preset import build_tiny_mamba_char
from mambalign_runtime.lora import mamba_targets_allowed
base, tok = build_tiny_mamba_char()
# peft refuses LoRA on Mamba's out_proj (which the runtime trains) outside this guard; the CLI says so.
with mamba_targets_allowed():
    peft = PeftModel.from_pretrained(base, sys.argv[1]).eval()
merged = AutoModelForCausalLM.from_pretrained(sys.argv[2]).eval()
ids = tok("<|user|>hello", return_tensors="pt").input_ids
with torch.no_grad():
    a, b = peft(ids).logits, merged(ids).logits
print(type(peft).__name__, type(merged).__name__, float((a - b).abs().max()))
`;

describe("mambalign adapters export", () => {
  let sys: TestSystem;
  let dir: string;
  before(async () => {
    process.env.OMP_NUM_THREADS ??= "1"; // the tiny model trains fastest on one thread (runtime README)
    sys = await startTestSystem();
    dir = path.join(sys.stateDir, "export-test");
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, "sft.jsonl"), WORDS.map(ROW).join("\n") + "\n");
    await writeFile(path.join(dir, "prefs.jsonl"), WORDS.map(PREF).join("\n") + "\n");
    await writeFile(
      path.join(dir, "recipe.yaml"),
      [
        "name: exp",
        "model_name_or_path: preset:tiny-mamba-char",
        "stages: [sft, merge, dpo]",
        "datasets: { d: ./sft.jsonl, p: ./prefs.jsonl }",
        "use_peft: true",
        "lora_r: 4",
        "lora_alpha: 8",
        "sft: { dataset_mixer: { d: 1.0 }, max_steps: 2, per_device_train_batch_size: 4, learning_rate: 1.0e-2 }",
        "dpo: { dataset_mixer: { p: 1.0 }, max_steps: 2, per_device_train_batch_size: 4, learning_rate: 1.0e-2, beta: 0.1 }",
        "",
      ].join("\n"),
    );
  });
  after(async () => {
    await sys?.stop();
  });

  test("an adapter exports as a PEFT directory PeftModel.from_pretrained loads, and --merged (also a DPO adapter onto its merged SFT parent) as a model from_pretrained loads with the same logits", { timeout: 10 * 60_000 }, async () => {
    const run = await sys.cli(["run", path.join(dir, "recipe.yaml"), "--watch"]);
    assert.equal(run.code, 0, run.out + run.err);
    const peftDir = path.join(dir, "peft");
    const exported = await sys.cli(["adapters", "export", "exp-sft/v1", peftDir]);
    assert.equal(exported.code, 0, exported.err);
    assert.ok((await readdir(peftDir)).includes("adapter_config.json"));
    assert.match(exported.err, /mamba_targets_allowed/, "the out_proj hint is printed");
    assert.ok(!(await readdir(peftDir)).some((f) => /optimizer|trainer_state/.test(f)), "no training state");
    const mergedDir = path.join(dir, "merged");
    const merged = await sys.cli(["-o", "json", "adapters", "export", "exp-sft@latest", mergedDir, "--merged"]);
    assert.equal(merged.code, 0, merged.err);
    assert.equal((JSON.parse(merged.out) as { merged: boolean }).merged, true);
    assert.ok((await readdir(mergedDir)).includes("config.json"));

    const py = spawnSync(defaultPython(process.env), ["-c", CHECK, peftDir, mergedDir], {
      encoding: "utf8",
      env: { ...process.env, PYTHONPATH: [path.join(REPO_ROOT, "services", "runtime"), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) },
    });
    assert.equal(py.status, 0, py.stderr);
    const [peftType, mergedType, diff] = py.stdout.trim().split(" ");
    assert.match(peftType!, /^Peft/);
    assert.equal(mergedType, "MambaForCausalLM");
    assert.ok(Number(diff) < 1e-3, `logits differ by ${diff}`);

    // A DPO adapter sits on the merged SFT model (its parent version): --merged folds it into that.
    const dpoDir = path.join(dir, "dpo-merged");
    const dpo = await sys.cli(["adapters", "export", "exp-dpo/v1", dpoDir, "--merged"]);
    assert.equal(dpo.code, 0, dpo.err);
    const load = spawnSync(defaultPython(process.env), ["-c", "import sys\nfrom transformers import AutoModelForCausalLM\nprint(type(AutoModelForCausalLM.from_pretrained(sys.argv[1])).__name__)", dpoDir], {
      encoding: "utf8",
    });
    assert.equal(load.stdout.trim(), "MambaForCausalLM", load.stderr);

    const again = await sys.cli(["adapters", "export", "exp-sft/v1", peftDir]);
    assert.equal(again.code, 1);
    assert.match(again.err, /is not empty/);
  });
});
