// Values known to hurt a run, each explained in one line. Fatal only where the run would fail.
import type { IssueList } from "./issues.js";
import { keyPath } from "./issues.js";
import type { StageDraft, StageKind } from "./stage-keys.js";
import { HANDBOOK_LR, MAMBA_LORA_TARGETS } from "./stage-keys.js";
import { didYouMean } from "./suggest.js";
import { type WorkerCapabilities, type WorkerNeeds, workerLacks } from "./worker-capabilities.js";

export interface WarnContext {
  kind: StageKind;
  preset: boolean;
  mapToMamba: boolean;
  given: ReadonlyMap<string, unknown>;
  pathOf(key: string): string;
  issues: IssueList;
  /** The worker the recipe is checked for: what it lacks is named, what it has is not. */
  worker: WorkerCapabilities;
}

/** Module names a Mamba (transformers MambaForCausalLM) model has for LoRA to target. */
export const MAMBA_MODULES = [...MAMBA_LORA_TARGETS, "conv1d", "embeddings", "lm_head"] as const;

/** Transformer attention/MLP projections (handbook recipes) and their closest Mamba projection. */
export const TRANSFORMER_TO_MAMBA: Readonly<Record<string, string>> = {
  q_proj: "in_proj",
  k_proj: "in_proj",
  v_proj: "in_proj",
  gate_proj: "in_proj",
  up_proj: "in_proj",
  o_proj: "out_proj",
  down_proj: "out_proj",
};

function mambaEquivalent(target: string): string | undefined {
  const leaf = target.split(".").pop() ?? target;
  return Object.hasOwn(TRANSFORMER_TO_MAMBA, leaf) ? TRANSFORMER_TO_MAMBA[leaf] : undefined;
}

const BNB_OPTIMIZERS = /(8bit|paged_)/;
const BITSANDBYTES: WorkerNeeds = { cuda: true, packages: ["bitsandbytes"] };

/** Warns at `key` when the worker lacks what `what` needs; silent when it has it all. */
function warnIfWorkerLacks(c: WarnContext, key: string, what: string, needs: WorkerNeeds): void {
  const lacking = workerLacks(c.worker, needs);
  if (lacking.length === 0) return;
  c.issues.warn(c.pathOf(key), `${what} needs ${lacking.join(" and ")}, which ${c.worker.name} lacks: the runtime would stop with an error naming it`);
}

/** DPO's beta and LoRA's alpha/r outside these are rarely intended (handbook: beta 0.01-0.1; alpha = r now,
 * alpha 16 with r 64 in its first Zephyr QLoRA recipe). */
const USUAL_BETA = { min: 0.01, max: 1 } as const;
const USUAL_ALPHA_PER_RANK = { min: 0.25, max: 4 } as const;
/** A learning rate this many times above or below the handbook's for the stage and method. */
const LR_FACTOR = 10;

const STAGE_NAME = { sft: "SFT", dpo: "DPO" } as const;

function ratioText(ratio: number): string {
  return ratio >= 1 ? `${Number(ratio.toPrecision(3))}×` : `1/${Number((1 / ratio).toPrecision(3))} of`;
}

/** Values known to wreck an alignment run: far from the handbook's learning rate, beta, alpha/r; checkpoints too rare. */
function warnForHandbookRanges(d: StageDraft, c: WarnContext): void {
  const { args, lora, dpo } = d;
  const method = !lora.enabled ? "full" : lora.loadIn4bit ? "QLoRA" : "LoRA";
  const handbook = HANDBOOK_LR[c.kind][lora.enabled ? "lora" : "full"];
  const ratio = args.learningRate / handbook;
  // Presets are tiny models trained from scratch; the handbook's rates are for pretrained 7B models.
  if (!c.preset && (ratio >= LR_FACTOR || ratio <= 1 / LR_FACTOR)) {
    const effect = ratio > 1 ? (c.kind === "sft" ? "a pretrained model forgets what it knew" : "the policy collapses away from the reference") : "the stage will barely move the model";
    c.issues.warn(
      c.pathOf("learning_rate"),
      `${args.learningRate} is ${ratioText(ratio)} the handbook's ${handbook} for ${method} ${STAGE_NAME[c.kind]} (zephyr-7b-beta): ${effect}`,
    );
  }
  if (c.kind === "dpo" && (dpo.beta < USUAL_BETA.min || dpo.beta > USUAL_BETA.max)) {
    c.issues.warn(
      c.pathOf("beta"),
      `${dpo.beta} is outside the usual ${USUAL_BETA.min}-${USUAL_BETA.max} (the handbook's DPO uses 0.01, TRL's default 0.1): ${dpo.beta < USUAL_BETA.min ? "the policy may drift far from the reference" : "the policy hardly moves from the reference"}`,
    );
  }
  const perRank = lora.enabled ? lora.alpha / lora.r : 1;
  if (perRank < USUAL_ALPHA_PER_RANK.min || perRank > USUAL_ALPHA_PER_RANK.max) {
    c.issues.warn(
      c.pathOf("lora_alpha"),
      `lora_alpha/lora_r = ${Number(perRank.toPrecision(3))} (${lora.alpha}/${lora.r}) is outside the usual ${USUAL_ALPHA_PER_RANK.min}-${USUAL_ALPHA_PER_RANK.max} (the handbook's ${method} uses alpha = r): the adapter's update is scaled by alpha/r, so the effective learning rate is off by that much`,
    );
  }
  if (args.maxSteps > 0 && args.saveSteps >= args.maxSteps) {
    c.issues.warn(
      c.pathOf("save_steps"),
      `${args.saveSteps} is not below max_steps ${args.maxSteps}: no step checkpoint before the stage ends, so a preempted stage resumes from ${args.saveEveryMinutes > 0 ? `its last save_every_minutes (${args.saveEveryMinutes} min) checkpoint` : "the start (save_every_minutes is 0)"}; set save_steps below max_steps`,
    );
  }
}

export function warnForPipeline(d: StageDraft, c: WarnContext): void {
  const { args, lora } = d;
  warnForHandbookRanges(d, c);
  if (args.globalBatchSize === 1 || (args.globalBatchSize === 0 && args.perDeviceTrainBatchSize * args.gradientAccumulationSteps === 1)) {
    c.issues.warn(
      c.pathOf(args.globalBatchSize === 1 ? "global_batch_size" : "gradient_accumulation_steps"),
      "the global batch is 1 example on one GPU: each step follows a single example's gradient; raise gradient_accumulation_steps or set global_batch_size",
    );
  }
  if (BNB_OPTIMIZERS.test(args.optim)) warnIfWorkerLacks(c, "optim", args.optim, BITSANDBYTES);
  if (lora.loadIn4bit) warnIfWorkerLacks(c, "load_in_4bit", "QLoRA (a 4-bit base)", BITSANDBYTES);
}

export function warnForMamba(d: StageDraft, c: WarnContext): void {
  const { args, lora } = d;
  if (args.torchDtype === "float16") {
    c.issues.warn(c.pathOf("torch_dtype"), "float16 overflows in Mamba's selective scan (exp of dt·A); use float32 weights with bf16: true, or bfloat16");
  } else if (args.torchDtype === "bfloat16") {
    c.issues.warn(
      c.pathOf("torch_dtype"),
      "bfloat16 weights lose small updates to Mamba's A, D and dt parameters; its authors recommend float32 weights with bf16: true (autocast)",
    );
  }
  if (args.packing) {
    c.issues.warn(
      c.pathOf("packing"),
      "packed rows restart Mamba's state at every conversation through the Triton kernels, so they need a CUDA worker (kernels fast or auto); on a CPU worker the runtime stops with an error naming this key",
    );
  }
  if (lora.enabled) checkLoraTargets(d, c);
}

/** LoRA targets on a Mamba model: rename transformer names on request, refuse what cannot train. */
function checkLoraTargets(d: StageDraft, c: WarnContext): void {
  const key = c.pathOf("lora_target_modules");
  const targets = d.lora.targetModules;
  if (targets.length === 0) {
    c.issues.fatal(key, `needs at least one module; Mamba's are ${MAMBA_LORA_TARGETS.join(", ")}`);
    return;
  }
  const transformerNames: string[] = [];
  targets.forEach((t, i) => {
    const leaf = t.split(".").pop() ?? t; // peft matches a module name by its last component(s)
    if (t === "all-linear" || (MAMBA_MODULES as readonly string[]).includes(leaf)) {
      if (leaf === "conv1d") {
        c.issues.fatal(
          keyPath(key, i),
          "LoRA on conv1d cannot train: the scan reads the depthwise conv weight directly, so an adapter there gets no gradient (peft refuses it too)",
        );
      }
      return;
    }
    if (Object.hasOwn(TRANSFORMER_TO_MAMBA, leaf)) {
      transformerNames.push(t);
      return;
    }
    c.issues.warn(keyPath(key, i), `"${t}" is not a Mamba module (${MAMBA_MODULES.join(", ")}); ${didYouMean(leaf, MAMBA_MODULES)}`);
  });
  if (transformerNames.length === 0) return;
  if (c.mapToMamba) {
    const mapped = targets.map((t) => mambaEquivalent(t) ?? t);
    d.lora.targetModules = [...new Set(mapped)];
    c.issues.warn(
      key,
      `mapped ${transformerNames.join(", ")} to ${[...new Set(transformerNames.map(mambaEquivalent))].join(", ")} (lora_map_to_mamba): now ${d.lora.targetModules.join(", ")}`,
    );
    return;
  }
  const hint = "Mamba has in_proj, x_proj, dt_proj, out_proj; or set lora_map_to_mamba: true to map q/k/v/gate/up_proj to in_proj and o/down_proj to out_proj";
  if (transformerNames.length === targets.length) {
    c.issues.fatal(key, `none of ${transformerNames.join(", ")} exists in Mamba (attention/MLP names from transformer recipes), so LoRA would attach nowhere; ${hint}`);
  } else {
    c.issues.warn(key, `${transformerNames.join(", ")} do not exist in Mamba and match nothing; ${hint}`);
  }
}


/** On a model not recognised as Mamba, say what a switch to Mamba would need. */
export function noteForOtherModel(d: StageDraft, c: WarnContext): void {
  const names = d.lora.enabled ? d.lora.targetModules.filter((t) => Object.hasOwn(TRANSFORMER_TO_MAMBA, t.split(".").pop() ?? t)) : [];
  if (names.length > 0) {
    c.issues.warn(
      c.pathOf("lora_target_modules"),
      `${names.join(", ")} are attention/MLP modules: Mamba has none of them (it has ${MAMBA_LORA_TARGETS.join(", ")}); with a Mamba model, list those or set lora_map_to_mamba: true`,
    );
  }
}
