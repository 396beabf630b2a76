// Every handbook training key mambalign maps, with its schema and its default. Defaults are
// resolved here once (README.md, "Defaults", lists them); nothing downstream fills gaps.
import { z } from "zod";
import type { DpoArgs, LoraArgs, StageRecipe, TrainingArgs } from "../gen/mambalign/v1/recipe.js";
import { bool, float, int, mixer, nameList, oneOf, text } from "./values.js";

export type StageKind = "sft" | "dpo";

/** A stage's settings while they are being resolved; assembled into a StageRecipe afterwards. */
export interface StageDraft {
  args: Omit<TrainingArgs, "lora">;
  lora: LoraArgs;
  dpo: DpoArgs;
}

/** What a default may depend on: the stage, the model, and other keys' resolved values. */
export interface Resolver {
  kind: StageKind;
  /** The model is a Mamba checkpoint (by name) or a built-in preset. */
  mamba: boolean;
  /** The model is a built-in preset (tiny, trained from scratch). */
  preset: boolean;
  get<T>(key: string): T;
}

export interface StageKey {
  key: string;
  group: keyof StageDraft;
  /** Only the DPO stage reads it (beta, loss_type, max_length, max_prompt_length). */
  dpoOnly: boolean;
  schema: z.ZodType<unknown>;
  defaultValue(r: Resolver): unknown;
  set(d: StageDraft, value: unknown): void;
  get(d: StageDraft): unknown;
}

function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function field<T>(
  group: keyof StageDraft,
  key: string,
  schema: z.ZodType<T>,
  defaultValue: (r: Resolver) => T,
  prop: string = camel(key),
): StageKey {
  return {
    key,
    group,
    dpoOnly: group === "dpo",
    schema: schema as z.ZodType<unknown>,
    defaultValue,
    set: (d, value) => {
      (d[group] as unknown as Record<string, unknown>)[prop] = value;
    },
    get: (d) => (d[group] as unknown as Record<string, unknown>)[prop],
  };
}

export const MAMBA_LORA_TARGETS = ["in_proj", "x_proj", "dt_proj", "out_proj"] as const;

export const TORCH_DTYPES = ["auto", "float32", "bfloat16", "float16"] as const;
const DTYPE_ALIASES = { fp32: "float32", float: "float32", bf16: "bfloat16", fp16: "float16", half: "float16" };

export const LR_SCHEDULERS = [
  "linear",
  "cosine",
  "cosine_with_restarts",
  "polynomial",
  "constant",
  "constant_with_warmup",
  "inverse_sqrt",
] as const; // transformers' schedulers that need no extra arguments (the runtime's SCHEDULERS)

// What the runtime builds (runtime/mambalign_runtime/optim.py): torch's AdamW and bitsandbytes' paged/8-bit AdamW.
export const OPTIMIZERS = [
  "adamw_torch",
  "adamw_hf",
  "adamw",
  "adamw_torch_fused",
  "paged_adamw_32bit",
  "paged_adamw_8bit",
  "adamw_8bit",
  "adamw_bnb_8bit",
] as const;

export const DPO_LOSSES = ["sigmoid", "ipo", "hinge"] as const;

/** report_to's trackers (the runtime's trackers.TRACKERS); "all" names them all and "none" none, as in HF. */
export const TRACKERS = ["tensorboard", "wandb", "mlflow"] as const;

/** report_to: a name, "a,b", or a list, as HF's TrainingArguments take it; unknown names are refused by index. */
const trackerList = () =>
  z
    .preprocess(
      (v) => (typeof v === "string" ? v.split(",").map((p) => p.trim()).filter(Boolean) : v),
      z.array(oneOf([...TRACKERS, "all", "none"]), { error: "expected a list of tracker names" }),
    )
    .transform((names) => [...new Set(names.flatMap((n) => (n === "all" ? [...TRACKERS] : n === "none" ? [] : [n])))]);

/** A tracking server's address; credentials go in the environment (MLFLOW_TRACKING_TOKEN ...), never in a recipe. */
const trackingUri = () =>
  text().refine(
    (s) => {
      try {
        const u = new URL(s);
        return !u.username && !u.password;
      } catch {
        return true; // MLflow also takes plain paths and "databricks"; the client checks those
      }
    },
    { error: "must not carry credentials: set MLFLOW_TRACKING_USERNAME / _PASSWORD or _TOKEN in the trainer's environment (a Secret)" },
  );

const uint = (min = 0) => int({ ge: min });

/** Handbook learning rates (Zephyr recipes): full fine-tuning vs LoRA, per stage. */
export const HANDBOOK_LR = { sft: { full: 2e-5, lora: 2e-4 }, dpo: { full: 5e-7, lora: 5e-6 } } as const;

/** Default wall-time between checkpoints: a preemption loses at most this much work. */
export const SAVE_EVERY_MINUTES = 10;

export const STAGE_KEYS: readonly StageKey[] = [
  // data
  field("args", "dataset_mixer", mixer(), () => ({})),
  field("args", "dataset_splits", nameList(), () => ["train", "test"]),
  field("args", "chat_template", text(), () => ""),
  field("args", "max_seq_length", uint(1), (r) => (r.kind === "dpo" ? r.get<number>("max_length") : 2048)),
  field("args", "packing", bool(), () => false),
  field("args", "assistant_only_loss", bool(), () => false),
  // precision
  field("args", "torch_dtype", oneOf(TORCH_DTYPES, DTYPE_ALIASES), () => "float32"),
  field("args", "bf16", bool(), () => false),
  // optimisation
  field("args", "learning_rate", float({ gt: 0 }), (r) => HANDBOOK_LR[r.kind][r.get<boolean>("use_peft") ? "lora" : "full"]),
  field("args", "lr_scheduler_type", oneOf(LR_SCHEDULERS), () => "cosine"),
  field("args", "warmup_ratio", float({ ge: 0, le: 1 }), () => 0.1),
  field("args", "num_train_epochs", float({ gt: 0 }), () => 1),
  field("args", "max_steps", int({ ge: -1, le: 2 ** 31 - 1 }).refine((n) => n !== 0, {
    error: "must be -1 (train for num_train_epochs) or a positive step count",
  }), () => -1),
  field("args", "per_device_train_batch_size", uint(1), () => 8),
  field("args", "per_device_eval_batch_size", uint(1), () => 8),
  field("args", "gradient_accumulation_steps", uint(1), () => 1),
  field("args", "global_batch_size", uint(0), () => 0),
  field("args", "gradient_checkpointing", bool(), () => false),
  field("args", "optim", oneOf(OPTIMIZERS), () => "adamw_torch"),
  field("args", "weight_decay", float({ ge: 0 }), () => 0),
  field("args", "adam_beta1", float({ ge: 0, lt: 1 }), () => 0.9),
  field("args", "adam_beta2", float({ ge: 0, lt: 1 }), () => 0.999),
  field("args", "adam_epsilon", float({ gt: 0 }), () => 1e-8),
  field("args", "max_grad_norm", float({ ge: 0 }), () => 1),
  // bookkeeping
  field("args", "save_steps", uint(1), () => 500),
  // By time too, so a stage shorter than save_steps (or a slow one) still leaves a checkpoint to resume.
  field("args", "save_every_minutes", float({ ge: 0 }), () => SAVE_EVERY_MINUTES),
  field("args", "eval_steps", uint(0), () => 0),
  field("args", "logging_steps", uint(1), () => 10),
  field("args", "seed", uint(0), () => 42),
  // experiment tracking (the runtime's trackers.py)
  field("args", "report_to", trackerList(), () => []),
  field("args", "mlflow_tracking_uri", trackingUri(), () => ""),
  // LoRA / QLoRA (values are zeroed when use_peft is false: nothing reads them then)
  field("lora", "use_peft", bool(), () => false, "enabled"),
  field("lora", "lora_r", uint(1), () => 16, "r"),
  field("lora", "lora_alpha", float({ gt: 0 }), () => 32, "alpha"),
  field("lora", "lora_dropout", float({ ge: 0, lt: 1 }), () => 0.05, "dropout"),
  field("lora", "lora_target_modules", nameList(), (r) => (r.mamba ? [...MAMBA_LORA_TARGETS] : []), "targetModules"),
  field("lora", "lora_modules_to_save", nameList(), () => [], "modulesToSave"),
  field("lora", "load_in_4bit", bool(), () => false, "loadIn4bit"),
  // DPO
  field("dpo", "beta", float({ gt: 0 }), () => 0.1),
  field("dpo", "loss_type", oneOf(DPO_LOSSES), () => "sigmoid"),
  field("dpo", "max_length", uint(1), () => 1024),
  field("dpo", "max_prompt_length", uint(1), () => 512),
  field("dpo", "rpo_alpha", float({ ge: 0 }), () => 0, "rpoAlpha"),
];

export const STAGE_KEY_BY_NAME: ReadonlyMap<string, StageKey> = new Map(STAGE_KEYS.map((k) => [k.key, k]));

/** Keys that mark a handbook single-stage file as a DPO recipe. */
export const DPO_MARKER_KEYS = ["beta", "max_prompt_length", "max_length", "loss_type"] as const;

/** Our opt-in: rename transformer LoRA targets (q_proj, ..., down_proj) to the Mamba projections. */
export const MAP_TO_MAMBA_KEY = "lora_map_to_mamba";

export function emptyDraft(): StageDraft {
  return {
    args: {
      datasetMixer: {},
      datasetSplits: [],
      learningRate: 0,
      lrSchedulerType: "",
      warmupRatio: 0,
      numTrainEpochs: 0,
      maxSteps: 0,
      perDeviceTrainBatchSize: 0,
      perDeviceEvalBatchSize: 0,
      gradientAccumulationSteps: 0,
      globalBatchSize: 0,
      gradientCheckpointing: false,
      maxSeqLength: 0,
      packing: false,
      torchDtype: "",
      bf16: false,
      optim: "",
      weightDecay: 0,
      adamBeta1: 0,
      adamBeta2: 0,
      adamEpsilon: 0,
      maxGradNorm: 0,
      saveSteps: 0,
      evalSteps: 0,
      loggingSteps: 0,
      seed: 0,
      chatTemplate: "",
      assistantOnlyLoss: false,
      saveEveryMinutes: 0,
      reportTo: [],
      mlflowTrackingUri: "",
    },
    lora: disabledLora(),
    dpo: { beta: 0, lossType: "", maxLength: 0, maxPromptLength: 0, rpoAlpha: 0 },
  };
}

export function disabledLora(): LoraArgs {
  return { enabled: false, r: 0, alpha: 0, dropout: 0, targetModules: [], modulesToSave: [], loadIn4bit: false };
}

/** The draft view of a StageRecipe, so a key's `get` reads it back (YAML output, tests). */
export function draftOf(stage: StageRecipe): StageDraft {
  const base = emptyDraft();
  const { lora, ...args } = stage.args ?? { ...base.args, lora: undefined };
  return { args, lora: lora ?? disabledLora(), dpo: stage.dpo ?? base.dpo };
}
