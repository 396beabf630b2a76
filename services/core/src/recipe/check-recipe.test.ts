import assert from "node:assert/strict";
import { describe, test } from "node:test";
import YAML from "yaml";
import { Stage } from "../gen/mambalign/v1/common.js";
import type { RecipeIssue } from "../gen/mambalign/v1/recipe.js";
import { checkRecipe, EVAL_DEFAULTS, YAML_ISSUE_KEY } from "./check-recipe.js";
import { parseRecipe } from "./parse-recipe.js";
import { RecipeError } from "./recipe-error.js";

const BASE_DIR = "/srv/recipes";

/** A valid multi-stage recipe on the preset model; tests change one thing at a time. */
function demo(): Record<string, any> {
  return {
    name: "demo",
    model_name_or_path: "preset:tiny-mamba-char",
    stages: ["sft", "merge", "dpo", "eval"],
    datasets: { "demo-sft": "./data/sft.jsonl", "demo-prefs": "./data/prefs.jsonl", heldout: "data/heldout.jsonl" },
    sft: { dataset_mixer: { "demo-sft": 1.0 }, learning_rate: 1e-3, per_device_train_batch_size: 8 },
    dpo: { dataset_mixer: { "demo-prefs": 1.0 }, beta: 0.1 },
    eval: { exact_match_dataset: "heldout", max_new_tokens: 16, batch_size: 32 },
  };
}

function check(doc: unknown, opts: { baseDir?: string; source?: string } = { baseDir: BASE_DIR }) {
  return checkRecipe(typeof doc === "string" ? doc : YAML.stringify(doc), opts);
}

const fatal = (issues: RecipeIssue[]) => issues.filter((i) => i.fatal);
const at = (issues: RecipeIssue[], key: string) => issues.filter((i) => i.key === key);

describe("recipe — multi-stage form", () => {
  test("a valid recipe normalises with defaults resolved and paths made absolute", () => {
    const { recipe, issues, ok } = check(demo());
    assert.equal(ok, true, JSON.stringify(issues));
    assert.deepEqual(issues, []);
    assert.equal(recipe.name, "demo");
    assert.deepEqual(recipe.model, { uri: "preset:tiny-mamba-char", revision: "", resolved: "" });
    assert.deepEqual(recipe.stages, [Stage.STAGE_SFT, Stage.STAGE_MERGE, Stage.STAGE_DPO, Stage.STAGE_EVAL]);
    assert.deepEqual(recipe.datasetSources, {
      "demo-sft": "/srv/recipes/data/sft.jsonl",
      "demo-prefs": "/srv/recipes/data/prefs.jsonl",
      heldout: "/srv/recipes/data/heldout.jsonl",
    });
    assert.deepEqual(recipe.eval, { ...EVAL_DEFAULTS, exactMatchDataset: "/srv/recipes/data/heldout.jsonl", maxNewTokens: 16, batchSize: 32 });
    const sft = recipe.sft!.args!;
    assert.equal(sft.learningRate, 1e-3);
    assert.equal(sft.lrSchedulerType, "cosine");
    assert.equal(sft.maxSteps, -1);
    assert.equal(sft.maxSeqLength, 2048);
    assert.equal(sft.seed, 42);
    assert.deepEqual(sft.datasetSplits, ["train", "test"]);
    assert.equal(recipe.sft!.dpo, undefined);
    assert.deepEqual(recipe.dpo!.dpo, { beta: 0.1, lossType: "sigmoid", maxLength: 1024, maxPromptLength: 512, rpoAlpha: 0 });
    // DPO's sequence budget follows max_length unless max_seq_length is given.
    assert.equal(recipe.dpo!.args!.maxSeqLength, 1024);
    assert.equal(recipe.dpo!.args!.learningRate, 5e-7);
  });

  test("a dataset_mixer name that is not declared, not a path and not a Hub org/name id is an error at sft.dataset_mixer", () => {
    const doc = demo();
    doc.sft.dataset_mixer = { "no-such-dataset": 1.0 };
    const r = check(doc);
    assert.equal(r.ok, false);
    const [issue] = at(fatal(r.issues), "sft.dataset_mixer.no-such-dataset");
    assert.ok(issue, JSON.stringify(r.issues));
    assert.match(issue.message, /unknown dataset "no-such-dataset".*datasets:.*org\/name/);
    // A Hub id keeps passing: it is checked when the data is prepared.
    doc.sft.dataset_mixer = { "HuggingFaceH4/ultrachat_200k": 1.0 };
    assert.equal(check(doc).ok, true);
  });

  test("stages default to all four in order", () => {
    const doc = demo();
    delete doc.stages;
    assert.deepEqual(check(doc).recipe.stages, [Stage.STAGE_SFT, Stage.STAGE_MERGE, Stage.STAGE_DPO, Stage.STAGE_EVAL]);
  });

  test("top-level training keys apply to every stage; a section overrides them", () => {
    const doc = demo();
    doc.torch_dtype = "float32";
    doc.seed = 7;
    doc.dpo.seed = 9;
    const { recipe, ok } = check(doc);
    assert.equal(ok, true);
    assert.equal(recipe.sft!.args!.seed, 7);
    assert.equal(recipe.dpo!.args!.seed, 9);
  });

  test("the default learning rate follows the stage and LoRA (handbook values)", () => {
    const doc = demo();
    delete doc.sft.learning_rate;
    doc.use_peft = true;
    const { recipe } = check(doc);
    assert.equal(recipe.sft!.args!.learningRate, 2e-4);
    assert.equal(recipe.dpo!.args!.learningRate, 5e-6);
    assert.deepEqual(recipe.sft!.args!.lora!.targetModules, ["in_proj", "x_proj", "dt_proj", "out_proj"]);
    assert.equal(recipe.sft!.args!.lora!.r, 16);
  });

  test("a stage without learning_rate gets the handbook's rate for SFT/DPO × full/LoRA/QLoRA", () => {
    // alignment-handbook zephyr-7b-beta: sft/config_full 2e-5, sft/config_qlora 2e-4, dpo/config_full 5e-7, dpo/config_qlora 5e-6.
    const cases: { peft: Record<string, boolean>; sft: number; dpo: number }[] = [
      { peft: {}, sft: 2e-5, dpo: 5e-7 },
      { peft: { use_peft: true }, sft: 2e-4, dpo: 5e-6 },
      { peft: { use_peft: true, load_in_4bit: true }, sft: 2e-4, dpo: 5e-6 },
    ];
    for (const c of cases) {
      const doc: Record<string, any> = { ...demo(), ...c.peft };
      delete doc.sft.learning_rate;
      const { recipe } = check(doc);
      assert.equal(recipe.sft!.args!.learningRate, c.sft, JSON.stringify(c.peft));
      assert.equal(recipe.dpo!.args!.learningRate, c.dpo, JSON.stringify(c.peft));
    }
  });

  test("stage order is enforced and the entry at fault is named", () => {
    const doc = demo();
    doc.stages = ["sft", "dpo", "merge"];
    const r = check(doc);
    assert.equal(r.ok, false);
    assert.match(at(r.issues, "stages[2]")[0]!.message, /order sft, merge, dpo, eval/);
  });

  test("unknown and repeated stages are fatal", () => {
    const doc = demo();
    doc.stages = ["sft", "sft", "dop"];
    const r = check(doc);
    assert.match(at(r.issues, "stages[1]")[0]!.message, /listed twice/);
    assert.match(at(r.issues, "stages[2]")[0]!.message, /did you mean "dpo"/);
  });

  test("merge without sft, and dpo after sft without merge, are rejected", () => {
    const doc = demo();
    doc.stages = ["merge", "dpo"];
    assert.match(at(fatal(check(doc).issues), "stages")[0]!.message, /merge needs the sft stage/);
    doc.stages = ["sft", "dpo"];
    assert.match(at(fatal(check(doc).issues), "stages")[0]!.message, /needs merge/);
  });

  test("a section for a stage that does not run is reported, not used", () => {
    const doc = demo();
    doc.stages = ["sft", "merge"];
    const r = check(doc);
    assert.equal(r.ok, true);
    assert.equal(r.recipe.dpo, undefined);
    assert.match(at(r.issues, "dpo")[0]!.message, /stages does not list dpo/);
    assert.match(at(r.issues, "datasets.demo-prefs")[0]!.message, /not used/);
  });

  test("a training stage without datasets is fatal", () => {
    const doc = demo();
    delete doc.dpo.dataset_mixer;
    assert.match(at(fatal(check(doc).issues), "dpo.dataset_mixer")[0]!.message, /required/);
  });

  test("a stage section may repeat the model but not name another", () => {
    const doc = demo();
    doc.sft.model_name_or_path = "preset:tiny-mamba-char";
    assert.equal(check(doc).ok, true);
    doc.dpo.model_name_or_path = "state-spaces/mamba-130m-hf";
    const r = check(doc);
    assert.match(at(fatal(r.issues), "dpo.model_name_or_path")[0]!.message, /one base model/);
  });
});

describe("recipe — bad input is named by key", () => {
  test("malformed YAML is a fatal issue, never a throw", () => {
    const r = check("sft: {learning_rate: [1, 2\nname: x");
    assert.equal(r.ok, false);
    assert.equal(r.issues[0]!.key, YAML_ISSUE_KEY);
    assert.match(r.issues[0]!.message, /line/);
  });

  test("duplicate keys, a non-mapping document and an empty one are fatal", () => {
    assert.match(check("model_name_or_path: a/b\nmodel_name_or_path: c/d\n").issues[0]!.message, /unique/i);
    assert.equal(check("- sft\n- dpo\n").ok, false);
    assert.match(check("").issues[0]!.message, /empty/);
    assert.equal(checkRecipe(42 as unknown as string).ok, false);
  });

  test("wrong types name the key, including items of lists and mappings", () => {
    const doc = demo();
    doc.sft.lora_r = "sixteen";
    doc.sft.packing = "yes";
    doc.dpo.dataset_mixer = { "demo-prefs": "all" };
    doc.sft.dataset_splits = ["train", 3];
    const r = check(doc);
    assert.equal(r.ok, false);
    const keys = fatal(r.issues).map((i) => i.key);
    assert.ok(keys.includes("sft.lora_r"), keys.join());
    assert.ok(keys.includes("sft.packing"), keys.join());
    assert.ok(keys.includes("dpo.dataset_mixer.demo-prefs"), keys.join());
    assert.ok(keys.includes("sft.dataset_splits[1]"), keys.join());
    assert.match(at(r.issues, "sft.lora_r")[0]!.message, /expected a number.*"sixteen"/);
  });

  test("out-of-range values are fatal and say the bound", () => {
    const doc = demo();
    doc.sft.warmup_ratio = 2;
    doc.sft.per_device_train_batch_size = 0;
    doc.sft.max_steps = 0;
    doc.dpo.beta = 0;
    doc.dpo.loss_type = "robust";
    doc.dpo.max_prompt_length = 2048;
    doc.eval.max_new_tokens = -1;
    const r = check(doc);
    assert.match(at(r.issues, "sft.warmup_ratio")[0]!.message, /<= 1/);
    assert.match(at(r.issues, "sft.per_device_train_batch_size")[0]!.message, />= 1/);
    assert.match(at(r.issues, "sft.max_steps")[0]!.message, /-1/);
    assert.match(at(r.issues, "dpo.beta")[0]!.message, /> 0/);
    assert.match(at(r.issues, "dpo.loss_type")[0]!.message, /sigmoid, ipo, hinge/);
    assert.match(at(r.issues, "dpo.max_prompt_length")[0]!.message, /below max_length 1024/);
    assert.match(at(r.issues, "eval.max_new_tokens")[0]!.message, />= 1/);
    assert.ok(r.issues.filter((i) => i.key.startsWith("dpo.") || i.key.startsWith("sft.") || i.key.startsWith("eval.")).every((i) => i.fatal));
  });

  test("numbers written as strings are read like HfArgumentParser does", () => {
    const doc = demo();
    doc.sft.learning_rate = "5e-5";
    const { recipe, ok } = check(doc);
    assert.equal(ok, true);
    assert.equal(recipe.sft!.args!.learningRate, 5e-5);
  });

  test("an unknown key warns with the closest known key", () => {
    const doc = demo();
    doc.sft.learning_rte = 1e-4;
    doc.lora_rank = 8;
    doc.eval.max_tokens = 8;
    const r = check(doc);
    assert.equal(r.ok, true);
    assert.match(at(r.issues, "sft.learning_rte")[0]!.message, /did you mean "learning_rate"/);
    assert.match(at(r.issues, "lora_rank")[0]!.message, /did you mean "lora_r/);
    assert.match(at(r.issues, "eval.max_tokens")[0]!.message, /did you mean "max_new_tokens"/);
  });

  test("a missing or malformed model is fatal", () => {
    const doc = demo();
    delete doc.model_name_or_path;
    assert.match(at(fatal(check(doc).issues), "model_name_or_path")[0]!.message, /required/);
    doc.model_name_or_path = "not a model!";
    assert.equal(check(doc).ok, false);
    doc.model_name_or_path = "s3://Bad_Bucket/x";
    assert.match(at(check(doc).issues, "model_name_or_path")[0]!.message, /s3:\/\/bucket/);
  });

  test("unsafe dataset URIs and unsupported schemes are fatal", () => {
    const doc = demo();
    doc.datasets["demo-sft"] = "s3://bucket/../x.jsonl";
    doc.datasets["demo-prefs"] = "https://example.com/prefs.jsonl";
    const r = check(doc);
    assert.match(at(r.issues, "datasets.demo-sft")[0]!.message, /unsafe object key/);
    assert.match(at(r.issues, "datasets.demo-prefs")[0]!.message, /only local paths and s3/);
  });

  test("a recipe name must be usable as a registry name", () => {
    const doc = demo();
    doc.name = "../evil";
    assert.equal(at(fatal(check(doc).issues), "name").length, 1);
  });

  test("load_in_4bit without use_peft is fatal; lora keys without use_peft warn", () => {
    const doc = demo();
    doc.sft.load_in_4bit = true;
    doc.sft.lora_r = 8;
    const r = check(doc);
    assert.match(at(fatal(r.issues), "sft.load_in_4bit")[0]!.message, /use_peft/);
    assert.match(at(r.issues, "sft.lora_r")[0]!.message, /full fine-tuning/);
    assert.equal(r.recipe.sft!.args!.lora!.r, 0);
  });

  test("global_batch_size must be a multiple of the per-device batch", () => {
    const doc = demo();
    doc.sft.global_batch_size = 20;
    assert.match(at(fatal(check(doc).issues), "sft.global_batch_size")[0]!.message, /multiple/);
    doc.sft.global_batch_size = 64;
    const { recipe, ok } = check(doc);
    assert.equal(ok, true);
    assert.equal(recipe.sft!.args!.globalBatchSize, 64);
    assert.equal(recipe.sft!.args!.gradientAccumulationSteps, 0); // derived per GPU count at run time
  });

  test("parseRecipe throws RecipeError naming the keys", () => {
    const doc = demo();
    doc.sft.lora_alpha = "big";
    doc.sft.use_peft = true;
    assert.throws(
      () => parseRecipe(YAML.stringify(doc)),
      (err: unknown) =>
        err instanceof RecipeError &&
        err.name === "RecipeError" &&
        /sft\.lora_alpha/.test(err.message) &&
        err.issues.some((i) => i.fatal && i.key === "sft.lora_alpha"),
    );
    const { recipe, warnings } = parseRecipe(YAML.stringify(demo()), { baseDir: BASE_DIR });
    assert.equal(recipe.name, "demo");
    assert.deepEqual(warnings, []);
  });
});

describe("recipe — handbook single-stage form", () => {
  const sft = {
    model_name_or_path: "state-spaces/mamba-130m-hf",
    chat_template: "{{ messages }}",
    dataset_mixer: { "HuggingFaceH4/ultrachat_200k": 0.5, "./local/extra.jsonl": 1 },
    dataset_splits: ["train_sft", "test_sft"],
    learning_rate: 2e-5,
    per_device_train_batch_size: 4,
  };

  test("a file without DPO keys is an SFT recipe; path-like mixer names become sources", () => {
    const { recipe, ok, issues } = check(sft, { baseDir: BASE_DIR, source: "/x/my-sft.yaml" });
    assert.equal(ok, true, JSON.stringify(issues));
    assert.deepEqual(recipe.stages, [Stage.STAGE_SFT]);
    assert.equal(recipe.name, "my-sft");
    assert.equal(recipe.model!.revision, "main");
    assert.deepEqual(recipe.datasetSources, { "./local/extra.jsonl": "/srv/recipes/local/extra.jsonl" });
    assert.equal(recipe.sft!.args!.datasetMixer["HuggingFaceH4/ultrachat_200k"], 0.5);
  });

  test("DPO keys or preference splits make it a DPO recipe", () => {
    assert.deepEqual(check({ ...sft, beta: 0.05 }).recipe.stages, [Stage.STAGE_DPO]);
    assert.deepEqual(check({ ...sft, dataset_splits: ["train_prefs", "test_prefs"] }).recipe.stages, [Stage.STAGE_DPO]);
  });

  test("without a base directory a relative path is kept and flagged", () => {
    const r = check(sft, {});
    assert.equal(r.recipe.datasetSources["./local/extra.jsonl"], "./local/extra.jsonl");
    assert.match(at(r.issues, "dataset_mixer../local/extra.jsonl")[0]!.message, /no base directory/);
  });

  test("plumbing keys are accepted with an explanation", () => {
    const r = check({ ...sft, output_dir: "data/x", run_name: "x", push_to_hub: true });
    assert.equal(r.ok, true);
    for (const key of ["output_dir", "run_name", "push_to_hub"]) assert.equal(at(r.issues, key).length, 1, key);
  });

  test("report_to reaches the stage's arguments: a name, a comma list or a list; all and none as in HF", () => {
    const reportTo = (value: unknown) => check({ ...sft, report_to: value }).recipe.sft!.args!.reportTo;
    assert.deepEqual(reportTo(["tensorboard", "wandb"]), ["tensorboard", "wandb"]);
    assert.deepEqual(reportTo("mlflow"), ["mlflow"]);
    assert.deepEqual(reportTo("tensorboard, mlflow, tensorboard"), ["tensorboard", "mlflow"]);
    assert.deepEqual(reportTo("all"), ["tensorboard", "wandb", "mlflow"]);
    assert.deepEqual(reportTo(["none"]), []);
    assert.deepEqual(check(sft).recipe.sft!.args!.reportTo, []);
    const r = check({ ...sft, report_to: ["tensorboard"] });
    assert.equal(r.ok, true);
    assert.equal(at(r.issues, "report_to").length, 0, "report_to is used, not plumbing");
  });

  test("an unknown tracker in report_to is fatal naming its index and the valid ones", () => {
    const r = check({ ...sft, report_to: ["tensorboard", "comet_ml"] });
    assert.equal(r.ok, false);
    const [issue] = at(r.issues, "report_to[1]");
    assert.ok(issue?.fatal, JSON.stringify(r.issues));
    assert.match(issue.message, /tensorboard, wandb, mlflow/);
    assert.match(issue.message, /comet_ml/);
  });

  test("mlflow_tracking_uri reaches the stage; one with credentials in it is refused", () => {
    const ok = check({ ...sft, report_to: "mlflow", mlflow_tracking_uri: "http://mlflow.ml:5000" });
    assert.equal(ok.ok, true, JSON.stringify(ok.issues));
    assert.equal(ok.recipe.sft!.args!.mlflowTrackingUri, "http://mlflow.ml:5000");
    const bad = check({ ...sft, report_to: "mlflow", mlflow_tracking_uri: "https://me:s3cret@mlflow.ml" });
    assert.equal(bad.ok, false);
    const [issue] = at(bad.issues, "mlflow_tracking_uri");
    assert.ok(issue?.fatal);
    assert.match(issue.message, /MLFLOW_TRACKING_TOKEN|MLFLOW_TRACKING_USERNAME/);
    assert.doesNotMatch(JSON.stringify(bad.issues), /s3cret/);
  });
});

describe("recipe — eval benchmarks", () => {
  test("benchmarks and smoke limits map to EvalArgs; an unknown benchmark is fatal naming its index", () => {
    const good = checkRecipe(
      "model_name_or_path: preset:tiny-mamba-char\nstages: [eval]\neval:\n  benchmarks: [mt_bench, alpaca_eval_v2]\n  limit: 3\n  judge_model: judge-1\n",
    );
    assert.ok(good.ok, JSON.stringify(good.issues));
    assert.deepEqual(good.recipe.eval?.benchmarks, ["mt_bench", "alpaca_eval_v2"]);
    assert.equal(good.recipe.eval?.limit, 3);
    assert.equal(good.recipe.eval?.judgeModel, "judge-1");
    const bad = checkRecipe("model_name_or_path: preset:tiny-mamba-char\nstages: [eval]\neval:\n  benchmarks: [mt_bench, arena_hard]\n");
    assert.equal(bad.ok, false);
    assert.ok(bad.issues.some((i) => i.fatal && i.key === "eval.benchmarks[1]"), JSON.stringify(bad.issues));
  });
});
