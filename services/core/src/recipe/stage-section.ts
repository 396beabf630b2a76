// Turns one stage's keys (handbook spelling) into a resolved StageRecipe.
import type { StageRecipe } from "../gen/mambalign/v1/recipe.js";
import type { IssueList } from "./issues.js";
import { keyPath } from "./issues.js";
import { noteForOtherModel, warnForMamba, warnForPipeline } from "./stage-warnings.js";
import { PLUMBING_KEYS } from "./plumbing-keys.js";
import type { ModelSource } from "./sources.js";
import { isMambaModel } from "./sources.js";
import type { Resolver, StageDraft, StageKind } from "./stage-keys.js";
import { disabledLora, emptyDraft, MAP_TO_MAMBA_KEY, STAGE_KEY_BY_NAME, STAGE_KEYS } from "./stage-keys.js";
import { didYouMean } from "./suggest.js";
import { bool, validate } from "./values.js";
import type { WorkerCapabilities } from "./worker-capabilities.js";

/** A key's value and where the user wrote it ("lora_r" at the top level, "sft.lora_r" in a section). */
export interface Entry {
  value: unknown;
  path: string;
  /** Written at the top level of a multi-stage recipe, i.e. for every training stage. */
  shared: boolean;
}

export interface StageContext {
  kind: StageKind;
  /** Section prefix for keys the user did not write ("sft", "dpo", or "" for a handbook file). */
  prefix: string;
  model: ModelSource | undefined;
  issues: IssueList;
  /** Keys to suggest from when a key is unknown. */
  known: ReadonlySet<string>;
  /** The worker the stage is checked for. */
  worker: WorkerCapabilities;
}

export interface ResolvedStage {
  stage: StageRecipe;
  draft: StageDraft;
  /** Path of a key as written, or where it would have been written. */
  pathOf(key: string): string;
}

const LORA_DETAIL_KEYS = ["lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_modules_to_save"];

export function resolveStage(entries: ReadonlyMap<string, Entry>, ctx: StageContext): ResolvedStage {
  const { kind, issues } = ctx;
  const given = new Map<string, unknown>();
  const invalid = new Set<string>();
  let mapToMamba = false;

  for (const [key, entry] of entries) {
    const spec = STAGE_KEY_BY_NAME.get(key);
    if (spec) {
      if (spec.dpoOnly && kind === "sft") {
        if (!entry.shared) issues.warn(entry.path, "a DPO setting: the sft stage does not read it");
        continue;
      }
      if (entry.value === null) continue; // YAML null = "unset", as in the handbook's `torch_dtype: null`
      const res = validate(spec.schema, entry.value, entry.path);
      if (res.ok) given.set(key, res.value);
      else {
        invalid.add(key);
        for (const m of res.messages) issues.fatal(m.key, m.message);
      }
    } else if (key === MAP_TO_MAMBA_KEY) {
      const res = validate(bool(), entry.value, entry.path);
      if (res.ok) mapToMamba = res.value;
      else for (const m of res.messages) issues.fatal(m.key, m.message);
    } else if (Object.hasOwn(PLUMBING_KEYS, key)) {
      issues.warn(entry.path, PLUMBING_KEYS[key]!);
    } else {
      issues.warn(entry.path, `unknown key, not used; ${didYouMean(key, ctx.known)}`);
    }
  }

  const mamba = ctx.model !== undefined && isMambaModel(ctx.model);
  const memo = new Map<string, unknown>();
  const resolver: Resolver = {
    kind,
    mamba,
    preset: ctx.model?.kind === "preset",
    get<T>(key: string): T {
      if (!memo.has(key)) {
        const spec = STAGE_KEY_BY_NAME.get(key);
        if (!spec) throw new Error(`no stage key ${key}`);
        memo.set(key, given.has(key) ? given.get(key) : spec.defaultValue(resolver));
      }
      return memo.get(key) as T;
    },
  };

  const draft = emptyDraft();
  for (const spec of STAGE_KEYS) {
    if (spec.dpoOnly && kind === "sft") continue;
    spec.set(draft, structuredClone(resolver.get(spec.key)));
  }
  const pathOf = (key: string) => entries.get(key)?.path ?? keyPath(ctx.prefix, key);

  if (!draft.lora.enabled) {
    if (draft.lora.loadIn4bit) {
      issues.fatal(pathOf("load_in_4bit"), "needs use_peft: true: a 4-bit base cannot be trained directly, only through LoRA adapters (QLoRA)");
    }
    for (const key of LORA_DETAIL_KEYS) {
      if (given.has(key)) {
        issues.warn(pathOf(key), "unused: use_peft is not true, so this stage is full fine-tuning; set use_peft: true to train a LoRA adapter");
      }
    }
    draft.lora = disabledLora();
  } else if (mapToMamba && !mamba) {
    issues.warn(pathOf(MAP_TO_MAMBA_KEY), "has no effect: the model is not a Mamba model");
  }

  checkCrossKeys(draft, kind, given, invalid, pathOf, issues);
  const warnCtx = { kind, preset: resolver.preset, mapToMamba, given, pathOf, issues, worker: ctx.worker };
  warnForPipeline(draft, warnCtx);
  if (mamba) warnForMamba(draft, warnCtx);
  else noteForOtherModel(draft, warnCtx);

  const { lora, dpo, args } = draft;
  return {
    stage: { args: { ...args, lora }, dpo: kind === "dpo" ? dpo : undefined },
    draft,
    pathOf,
  };
}

function checkCrossKeys(
  d: StageDraft,
  kind: StageKind,
  given: ReadonlyMap<string, unknown>,
  invalid: ReadonlySet<string>,
  pathOf: (key: string) => string,
  issues: IssueList,
): void {
  // A key already reported as invalid fell back to its default: checks on it would only add noise.
  const bad = (...keys: string[]) => keys.some((k) => invalid.has(k));
  const mixer = Object.entries(d.args.datasetMixer);
  if (bad("dataset_mixer")) {
    // already reported
  } else if (mixer.length === 0) {
    issues.fatal(pathOf("dataset_mixer"), `required: the ${kind} stage needs at least one dataset (name: fraction)`);
  } else if (mixer.every(([, f]) => f === 0)) {
    issues.fatal(pathOf("dataset_mixer"), "every fraction is 0: the stage would train on nothing");
  } else {
    for (const [name, f] of mixer) {
      if (f === 0) issues.warn(keyPath(pathOf("dataset_mixer"), name), "fraction 0: this dataset contributes no rows");
    }
  }
  if (!bad("dataset_splits")) checkSplits(d, pathOf, issues);
  const global = d.args.globalBatchSize;
  if (global > 0 && !bad("global_batch_size", "per_device_train_batch_size")) {
    if (global % d.args.perDeviceTrainBatchSize !== 0) {
      issues.fatal(
        pathOf("global_batch_size"),
        `${global} is not a multiple of per_device_train_batch_size ${d.args.perDeviceTrainBatchSize}: gradient accumulation could not keep it exact`,
      );
    }
    if (given.has("gradient_accumulation_steps")) {
      issues.warn(
        pathOf("gradient_accumulation_steps"),
        "overridden at run time: with global_batch_size set, accumulation = global_batch_size / (per_device_train_batch_size × GPUs)",
      );
    }
    // 0 = derived by the trainer from the number of GPUs, so the global batch stays constant.
    d.args.gradientAccumulationSteps = 0;
  }
  if (kind === "dpo" && !bad("max_length", "max_prompt_length") && d.dpo.maxPromptLength >= d.dpo.maxLength) {
    issues.fatal(
      pathOf("max_prompt_length"),
      `${d.dpo.maxPromptLength} must be below max_length ${d.dpo.maxLength}: a truncated pair would keep no response tokens to compare`,
    );
  }
}

/** The handbook sorts splits by name: "train" in it -> training rows, "test" -> held-out rows. */
function checkSplits(d: StageDraft, pathOf: (key: string) => string, issues: IssueList): void {
  d.args.datasetSplits.forEach((split, i) => {
    if (!split.includes("train") && !split.includes("test")) {
      issues.fatal(keyPath(pathOf("dataset_splits"), i), `"${split}" contains neither "train" nor "test", so it is neither training nor held-out data`);
    }
  });
  if (!d.args.datasetSplits.some((s) => s.includes("train"))) {
    issues.fatal(pathOf("dataset_splits"), 'no split name contains "train": the stage would have no training rows');
  }
}
