import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import YAML from "yaml";
import type { RecipeIssue } from "../gen/mambalign/v1/recipe.js";
import { checkRecipe } from "./check-recipe.js";
import { CPU_WORKER, GPU_IMAGE_WORKER, type WorkerCapabilities } from "./worker-capabilities.js";

/** A Mamba SFT+DPO recipe with LoRA; each test adds the value under scrutiny. */
function mamba(): Record<string, any> {
  return {
    name: "m",
    model_name_or_path: "state-spaces/mamba-130m-hf",
    stages: ["sft", "merge", "dpo"],
    chat_template: "{{ messages }}",
    use_peft: true,
    per_device_train_batch_size: 4,
    sft: { dataset_mixer: { "org/sft": 1 } },
    dpo: { dataset_mixer: { "org/prefs": 1 }, dataset_splits: ["train_prefs", "test_prefs"] },
  };
}

function check(doc: unknown) {
  return checkRecipe(YAML.stringify(doc), { baseDir: "/srv" });
}

const at = (issues: RecipeIssue[], key: string) => issues.filter((i) => i.key === key);

describe("recipe — warnings for values that hurt Mamba or the pipeline", () => {
  test("the base recipe is clean", () => {
    const r = check(mamba());
    assert.equal(r.ok, true);
    assert.deepEqual(r.issues, []);
  });

  test("float16 and bfloat16 weights warn; float32 with bf16 autocast does not", () => {
    const doc = mamba();
    doc.sft.torch_dtype = "fp16";
    doc.dpo.torch_dtype = "bfloat16";
    const r = check(doc);
    assert.equal(r.recipe.sft!.args!.torchDtype, "float16");
    assert.match(at(r.issues, "sft.torch_dtype")[0]!.message, /overflows/);
    assert.match(at(r.issues, "dpo.torch_dtype")[0]!.message, /float32 weights with bf16: true/);
    assert.ok(r.issues.every((i) => !i.fatal));
  });

  test("transformer LoRA targets are fatal on Mamba unless mapped on request", () => {
    const doc = mamba();
    doc.lora_target_modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    const r = check(doc);
    assert.equal(r.ok, false);
    assert.match(at(r.issues, "lora_target_modules")[0]!.message, /lora_map_to_mamba/);

    doc.lora_map_to_mamba = true;
    const mapped = check(doc);
    assert.equal(mapped.ok, true);
    assert.deepEqual(mapped.recipe.sft!.args!.lora!.targetModules, ["in_proj", "out_proj"]);
    assert.match(at(mapped.issues, "lora_target_modules")[0]!.message, /mapped/);
  });

  test("a transformer name among Mamba ones warns; an unknown name suggests the closest module", () => {
    const doc = mamba();
    doc.sft.lora_target_modules = ["in_proj", "q_proj", "xproj"];
    const r = check(doc);
    assert.equal(r.ok, true);
    assert.match(at(r.issues, "sft.lora_target_modules")[0]!.message, /q_proj do not exist in Mamba/);
    assert.match(at(r.issues, "sft.lora_target_modules[2]")[0]!.message, /did you mean "x_proj"/);
  });

  test("LoRA on conv1d is refused with the reason", () => {
    const doc = mamba();
    doc.lora_target_modules = ["in_proj", "conv1d"];
    const r = check(doc);
    assert.match(at(r.issues, "lora_target_modules[1]").find((i) => i.fatal)!.message, /no gradient/);
  });

  test("DPO straight from a base model warns; from an SFT model it does not", () => {
    const doc = mamba();
    doc.stages = ["dpo"];
    assert.match(at(check(doc).issues, "model_name_or_path")[0]!.message, /looks like a base model/);
    doc.model_name_or_path = "someone/mamba-2.8b-zephyr-sft";
    assert.deepEqual(at(check(doc).issues, "model_name_or_path"), []);
  });

  test("a learning rate 10× or more from the handbook's warns with the handbook's value for the stage and method", () => {
    // The original Mamba project: mamba-chat's full SFT at 5e-4, mamba-2.8b DPO with QLoRA at 5e-5.
    const doc = mamba();
    doc.use_peft = false;
    doc.sft.learning_rate = 5e-4;
    doc.dpo.learning_rate = 5e-7;
    let r = check(doc);
    assert.deepEqual(
      at(r.issues, "sft.learning_rate").map((i) => i.message),
      ["0.0005 is 25× the handbook's 0.00002 for full SFT (zephyr-7b-beta): a pretrained model forgets what it knew"],
    );
    assert.deepEqual(at(r.issues, "dpo.learning_rate"), []);

    const qlora = mamba();
    qlora.load_in_4bit = true;
    qlora.sft.learning_rate = 2e-4;
    qlora.dpo.learning_rate = 5e-5;
    r = check(qlora);
    assert.deepEqual(at(r.issues, "sft.learning_rate"), []);
    assert.match(at(r.issues, "dpo.learning_rate")[0]!.message, /^0\.00005 is 10× the handbook's 0\.000005 for QLoRA DPO .*collapses/);

    const low = mamba();
    low.sft.learning_rate = 1e-6;
    assert.match(at(check(low).issues, "sft.learning_rate")[0]!.message, /is 1\/200 of the handbook's 0\.0002 for LoRA SFT .*barely move/);
  });

  test("the original project's recipe warns about its learning rate", () => {
    const r = checkRecipe(readFileSync(new URL("../../../../examples/recipes/mamba-original-project.yaml", import.meta.url), "utf8"), { baseDir: "/srv" });
    assert.match(at(r.issues, "learning_rate")[0]!.message, /10× the handbook's 0\.000005 for QLoRA DPO/);
  });

  test("DPO's beta far outside the usual range warns; the handbook's 0.01 does not", () => {
    const doc = mamba();
    for (const [beta, warns] of [[0.001, true], [0.01, false], [0.5, false], [2, true]] as const) {
      doc.dpo.beta = beta;
      const issues = at(check(doc).issues, "dpo.beta");
      assert.equal(issues.length, warns ? 1 : 0, `beta ${beta}`);
      if (warns) assert.match(issues[0]!.message, /outside the usual 0\.01-1 \(the handbook's DPO uses 0\.01/);
    }
  });

  test("a LoRA alpha/r ratio far from the usual warns", () => {
    const doc = mamba();
    doc.sft.lora_r = 64;
    doc.sft.lora_alpha = 8;
    doc.dpo.lora_r = 4;
    doc.dpo.lora_alpha = 64;
    const r = check(doc);
    assert.match(at(r.issues, "sft.lora_alpha")[0]!.message, /^lora_alpha\/lora_r = 0\.125 \(8\/64\) is outside the usual 0\.25-4/);
    assert.match(at(r.issues, "dpo.lora_alpha")[0]!.message, /= 16 \(64\/4\)/);
  });

  test("a checkpoint interval not shorter than the stage warns", () => {
    const doc = mamba();
    doc.sft.max_steps = 150;
    doc.dpo.max_steps = 200;
    doc.dpo.save_steps = 50;
    const r = check(doc);
    assert.match(at(r.issues, "sft.save_steps")[0]!.message, /500 is not below max_steps 150: .*save_every_minutes \(10 min\)/);
    assert.deepEqual(at(r.issues, "dpo.save_steps"), []);
  });

  test("a global batch of one example warns", () => {
    const doc = mamba();
    doc.per_device_train_batch_size = 1;
    const r = check(doc);
    assert.match(at(r.issues, "sft.gradient_accumulation_steps")[0]!.message, /global batch is 1/);
    assert.match(at(r.issues, "dpo.gradient_accumulation_steps")[0]!.message, /global batch is 1/);
  });

  test("packing warns that packed rows need a CUDA worker", () => {
    const doc = mamba();
    doc.sft.packing = true;
    assert.match(at(check(doc).issues, "sft.packing")[0]!.message, /CUDA worker/);
  });

  test("an eval stage without a question set warns", () => {
    const doc = mamba();
    doc.stages = ["sft", "merge", "dpo", "eval"];
    assert.match(at(check(doc).issues, "eval.exact_match_dataset")[0]!.message, /no question set/);
  });

  test("a state-spaces base without chat_template warns per stage", () => {
    const doc = mamba();
    delete doc.chat_template;
    const r = check(doc);
    assert.equal(at(r.issues, "sft.chat_template").length, 1);
    assert.equal(at(r.issues, "dpo.chat_template").length, 1);
  });

  test("a DPO setting in the sft section is reported as unused", () => {
    const doc = mamba();
    doc.sft.beta = 0.1;
    assert.match(at(check(doc).issues, "sft.beta")[0]!.message, /sft stage does not read it/);
  });
});

describe("recipe — what the worker lacks is named, what it has is not", () => {
  /** SFT with QLoRA and a paged optimiser, checked for `worker`. */
  function qlora(worker?: WorkerCapabilities) {
    const doc = mamba();
    doc.stages = ["sft"];
    doc.load_in_4bit = true;
    doc.optim = "paged_adamw_32bit";
    delete doc.dpo;
    return checkRecipe(YAML.stringify(doc), { baseDir: "/srv", ...(worker ? { worker } : {}) });
  }

  test("on the GPU trainer image (the default), which carries bitsandbytes, QLoRA and paged optimisers draw no warning", () => {
    for (const r of [qlora(), qlora(GPU_IMAGE_WORKER)]) {
      assert.equal(r.ok, true);
      assert.deepEqual(r.issues.filter((i) => /bitsandbytes|CUDA/.test(i.message)), [], JSON.stringify(r.issues));
    }
  });

  test("on a CPU worker with the base runtime, both keys name bitsandbytes and CUDA as missing", () => {
    const r = qlora(CPU_WORKER);
    assert.equal(r.ok, true, "a warning: the recipe may still be sent to a GPU worker");
    for (const key of ["load_in_4bit", "optim"]) {
      const [issue] = at(r.issues, key);
      assert.ok(issue, `${key} warned`);
      assert.match(issue.message, /needs bitsandbytes and CUDA, which a CPU worker with the base runtime lacks/);
    }
  });

  test("a CUDA worker without bitsandbytes is told only about bitsandbytes", () => {
    const r = qlora({ name: "a CUDA worker without the gpu extras", cuda: true, packages: [] });
    assert.match(at(r.issues, "load_in_4bit")[0]!.message, /needs bitsandbytes, which a CUDA worker without the gpu extras lacks/);
  });
});
