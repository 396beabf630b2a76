// Recipe YAML (alignment-handbook single-stage files, or our multi-stage form) -> normalised Recipe.
import path from "node:path";
import YAML from "yaml";
import { Stage } from "../gen/mambalign/v1/common.js";
import type { EvalArgs, Recipe, RecipeIssue } from "../gen/mambalign/v1/recipe.js";
import { IssueList, keyPath } from "./issues.js";
import { PLUMBING_KEYS } from "./plumbing-keys.js";
import type { ModelSource } from "./sources.js";
import {
  checkHubDataset,
  isMambaModel,
  looksInstructionTuned,
  looksLikeDatasetSource,
  resolveDatasetSource,
  resolveModel,
} from "./sources.js";
import type { Entry, ResolvedStage } from "./stage-section.js";
import { resolveStage } from "./stage-section.js";
import type { StageKind } from "./stage-keys.js";
import { DPO_MARKER_KEYS, MAP_TO_MAMBA_KEY, STAGE_KEYS } from "./stage-keys.js";
import { parseStages, STAGE_ORDER } from "./stages.js";
import { didYouMean } from "./suggest.js";
import { int, nameList, text, validate } from "./values.js";
import { GPU_IMAGE_WORKER, type WorkerCapabilities } from "./worker-capabilities.js";

export interface RecipeOptions {
  /** Directory that relative local paths (datasets, model) are resolved against: usually the recipe file's. */
  baseDir?: string;
  /** Where the text came from (a file path): names the recipe when it has no `name`. */
  source?: string;
  /** The worker the recipe will run on (default: the GPU trainer image the chart deploys). */
  worker?: WorkerCapabilities;
}

export interface RecipeCheck {
  recipe: Recipe;
  issues: RecipeIssue[];
  /** No fatal issue. */
  ok: boolean;
}

/** Key of issues about the YAML text itself (syntax, duplicate keys, not a mapping). */
export const YAML_ISSUE_KEY = "(yaml)";

const MODEL_KEYS = ["model_name_or_path", "model_revision"] as const;
/** Top-level keys of our own in both forms. */
const COMMON_ROOT_KEYS = ["name", ...MODEL_KEYS, "datasets"] as const;
/** Any of these at the top level makes a recipe multi-stage. */
const SECTION_KEYS = ["stages", "sft", "dpo", "eval"] as const;

export const EVAL_DEFAULTS: EvalArgs = {
  exactMatchDataset: "",
  maxNewTokens: 64,
  batchSize: 16,
  benchmarks: [],
  limit: 0,
  benchMaxNewTokens: 0,
  benchDataDir: "",
  judgeModel: "",
};
export const EVAL_BENCHMARKS = ["mt_bench", "alpaca_eval_v1", "alpaca_eval_v2"] as const;
const EVAL_SCHEMAS = {
  exact_match_dataset: text(),
  max_new_tokens: int({ ge: 1 }),
  batch_size: int({ ge: 1 }),
  benchmarks: nameList(),
  limit: int({ ge: 0 }),
  bench_max_new_tokens: int({ ge: 0 }),
  bench_data_dir: text(),
  judge_model: text(),
} as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const STAGE_SUGGESTIONS = [...STAGE_KEYS.map((k) => k.key), MAP_TO_MAMBA_KEY, ...Object.keys(PLUMBING_KEYS)];

/** Checks and normalises a recipe. Never throws on bad input: problems are issues naming the key. */
export function checkRecipe(yamlText: string, opts: RecipeOptions = {}): RecipeCheck {
  const issues = new IssueList();
  const root = readYaml(yamlText, issues);
  const recipe = root === undefined ? emptyRecipe() : normalise(root, opts, issues);
  return { recipe, issues: issues.items, ok: !issues.hasFatal() };
}

function emptyRecipe(): Recipe {
  return {
    name: "",
    model: { uri: "", revision: "", resolved: "" },
    stages: [],
    sft: undefined,
    dpo: undefined,
    eval: undefined,
    datasetSources: {},
  };
}

type Mapping = Record<string, unknown>;

function isMapping(v: unknown): v is Mapping {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function readYaml(yamlText: unknown, issues: IssueList): Mapping | undefined {
  if (typeof yamlText !== "string") {
    issues.fatal(YAML_ISSUE_KEY, "the recipe must be YAML text");
    return undefined;
  }
  const doc = YAML.parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true, logLevel: "error" });
  for (const err of doc.errors) issues.fatal(YAML_ISSUE_KEY, firstLine(err.message));
  for (const w of doc.warnings) issues.warn(YAML_ISSUE_KEY, firstLine(w.message));
  if (doc.errors.length > 0) return undefined;
  let value: unknown;
  try {
    // logLevel "error": findings become issues instead of process warnings on stderr.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    issues.fatal(YAML_ISSUE_KEY, firstLine((err as Error).message));
    return undefined;
  }
  if (value === null || value === undefined) {
    issues.fatal(YAML_ISSUE_KEY, "the recipe is empty");
    return undefined;
  }
  if (!isMapping(value)) {
    issues.fatal(YAML_ISSUE_KEY, "expected a mapping of recipe keys (model_name_or_path: ..., dataset_mixer: ..., ...)");
    return undefined;
  }
  return value;
}

function firstLine(message: string): string {
  return message.split("\n")[0]!.trim();
}

function normalise(root: Mapping, opts: RecipeOptions, issues: IssueList): Recipe {
  const multi = SECTION_KEYS.some((k) => Object.hasOwn(root, k));
  const { baseDir } = opts;
  const recipe = emptyRecipe();

  const sections: Partial<Record<"sft" | "dpo" | "eval", Mapping>> = {};
  if (multi) {
    for (const name of ["sft", "dpo", "eval"] as const) {
      const v = root[name];
      if (v === undefined || v === null) continue;
      if (isMapping(v)) sections[name] = v;
      else issues.fatal(name, `expected a mapping of ${name} settings`);
    }
  }

  const model = readModel(root, sections, baseDir, issues);
  if (model) recipe.model = { uri: model.source.uri, revision: model.revision, resolved: "" };
  recipe.name = readName(root, opts, issues);

  const datasets = readDatasets(root["datasets"], baseDir, issues);
  for (const [name, src] of datasets) recipe.datasetSources[name] = src;
  const usedDatasets = new Set<string>();

  // Which stages run, and the keys each training stage reads.
  const stageEntries = new Map<StageKind, Map<string, Entry>>();
  if (multi) {
    recipe.stages = "stages" in root ? (parseStages(root["stages"], "stages", issues) ?? []) : [...STAGE_ORDER];
    const shared = new Map<string, Entry>();
    for (const [key, value] of Object.entries(root)) {
      if ((COMMON_ROOT_KEYS as readonly string[]).includes(key) || (SECTION_KEYS as readonly string[]).includes(key)) continue;
      shared.set(key, { value, path: key, shared: true });
    }
    const training = (["sft", "dpo"] as const).filter((k) => recipe.stages.includes(kindStage(k)));
    for (const kind of training) {
      const entries = new Map(shared);
      for (const [key, value] of Object.entries(sections[kind] ?? {})) {
        if ((MODEL_KEYS as readonly string[]).includes(key)) continue; // read by readModel
        entries.set(key, { value, path: `${kind}.${key}`, shared: false });
      }
      stageEntries.set(kind, entries);
    }
    if (training.length === 0) {
      for (const [key, entry] of shared) {
        if (Object.hasOwn(PLUMBING_KEYS, key)) issues.warn(entry.path, PLUMBING_KEYS[key]!);
        else if (STAGE_SUGGESTIONS.includes(key)) issues.warn(entry.path, "unused: no sft or dpo stage runs");
        else issues.warn(entry.path, `unknown key, not used; ${didYouMean(key, [...SECTION_KEYS, ...COMMON_ROOT_KEYS, ...STAGE_SUGGESTIONS])}`);
      }
    }
    for (const name of ["sft", "dpo", "eval"] as const) {
      if (sections[name] && !recipe.stages.includes(kindStage(name))) {
        issues.warn(name, `unused: stages does not list ${name}`);
      }
    }
  } else {
    const entries = new Map<string, Entry>();
    for (const [key, value] of Object.entries(root)) {
      if (!(COMMON_ROOT_KEYS as readonly string[]).includes(key)) entries.set(key, { value, path: key, shared: false });
    }
    const kind = isDpoFile(root) ? "dpo" : "sft";
    recipe.stages = [kindStage(kind)];
    stageEntries.set(kind, entries);
  }

  const resolved = new Map<StageKind, ResolvedStage>();
  for (const [kind, entries] of stageEntries) {
    const known = new Set([...STAGE_SUGGESTIONS, ...(multi ? [...SECTION_KEYS, ...COMMON_ROOT_KEYS] : COMMON_ROOT_KEYS)]);
    const stage = resolveStage(entries, { kind, prefix: multi ? kind : "", model: model?.source, issues, known, worker: opts.worker ?? GPU_IMAGE_WORKER });
    resolved.set(kind, stage);
    resolveMixerSources(stage, datasets, usedDatasets, recipe, baseDir, issues);
  }
  recipe.sft = resolved.get("sft")?.stage;
  recipe.dpo = resolved.get("dpo")?.stage;

  if (recipe.stages.includes(Stage.STAGE_EVAL)) {
    recipe.eval = readEval(sections.eval ?? {}, datasets, usedDatasets, baseDir, issues);
  }
  for (const name of datasets.keys()) {
    if (!usedDatasets.has(name)) issues.warn(keyPath("datasets", name), "not used by any dataset_mixer or eval.exact_match_dataset");
  }
  checkRecipeShape(recipe, model?.source, resolved, issues);
  return recipe;
}

function kindStage(kind: "sft" | "dpo" | "eval"): Stage {
  return kind === "sft" ? Stage.STAGE_SFT : kind === "dpo" ? Stage.STAGE_DPO : Stage.STAGE_EVAL;
}

/** A handbook file is a DPO recipe when it has DPO keys or preference splits. */
function isDpoFile(root: Mapping): boolean {
  if (DPO_MARKER_KEYS.some((k) => Object.hasOwn(root, k))) return true;
  const splits = root["dataset_splits"];
  return Array.isArray(splits) && splits.some((s) => typeof s === "string" && s.includes("pref"));
}

interface ModelChoice {
  source: ModelSource;
  revision: string;
}

/**
 * The run's one base model. In a multi-stage recipe a section may repeat it (handbook files
 * pasted into sft:/dpo:), but may not name another: the dpo stage starts from the merged SFT model.
 */
function readModel(root: Mapping, sections: Partial<Record<string, Mapping>>, baseDir: string | undefined, issues: IssueList): ModelChoice | undefined {
  const found: { key: string; value: unknown; revisionKey: string; revision: unknown }[] = [];
  if (root["model_name_or_path"] !== undefined || root["model_revision"] !== undefined) {
    found.push({ key: "model_name_or_path", value: root["model_name_or_path"], revisionKey: "model_revision", revision: root["model_revision"] });
  }
  for (const name of ["sft", "dpo", "eval"] as const) {
    const s = sections[name];
    if (s && (s["model_name_or_path"] !== undefined || s["model_revision"] !== undefined)) {
      found.push({ key: `${name}.model_name_or_path`, value: s["model_name_or_path"], revisionKey: `${name}.model_revision`, revision: s["model_revision"] });
    }
  }
  const first = found.find((f) => f.value !== undefined);
  if (!first) {
    issues.fatal("model_name_or_path", "required: a Hub id, s3:// URI, local path or preset:<name>");
    return undefined;
  }
  for (const other of found) {
    if (other === first || other.value === undefined) continue;
    if (other.value !== first.value) {
      issues.fatal(
        other.key,
        `"${String(other.value)}" differs from ${first.key} "${String(first.value)}": a run has one base model (the dpo stage starts from the merged SFT model); put model_name_or_path at the top level only`,
      );
    }
  }
  const uri = validate(text(), first.value, first.key);
  if (!uri.ok) {
    for (const m of uri.messages) issues.fatal(m.key, m.message);
    return undefined;
  }
  const source = resolveModel(uri.value, first.key, baseDir, issues);
  if (!source) return undefined;

  let revision = source.kind === "hub" ? "main" : "";
  const revEntry = found.find((f) => f.revision !== undefined && f.revision !== null);
  if (revEntry) {
    const rev = validate(text(), revEntry.revision, revEntry.revisionKey);
    if (!rev.ok) for (const m of rev.messages) issues.fatal(m.key, m.message);
    else if (source.kind !== "hub") issues.warn(revEntry.revisionKey, `unused: only Hub models have revisions (this model is ${source.kind})`);
    else revision = rev.value.trim();
  }
  return { source, revision };
}

function readName(root: Mapping, opts: RecipeOptions, issues: IssueList): string {
  const given = root["name"];
  if (given !== undefined && given !== null) {
    if (typeof given === "string" && NAME.test(given)) return given;
    issues.fatal("name", `${JSON.stringify(given)} is not a name: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
    return "";
  }
  const hub = root["hub_model_id"];
  const candidates = [
    typeof hub === "string" ? hub.split("/").pop() : undefined,
    opts.source ? path.basename(opts.source).replace(/\.ya?ml$/i, "") : undefined,
  ];
  for (const c of candidates) {
    const cleaned = (c ?? "").replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
    if (cleaned) return cleaned;
  }
  return "recipe";
}

function readDatasets(value: unknown, baseDir: string | undefined, issues: IssueList): Map<string, string> {
  const out = new Map<string, string>();
  if (value === undefined || value === null) return out;
  if (!isMapping(value)) {
    issues.fatal("datasets", "expected a mapping of dataset name to local path or s3:// URI");
    return out;
  }
  for (const [name, raw] of Object.entries(value)) {
    const key = keyPath("datasets", name);
    if (typeof raw !== "string") {
      issues.fatal(key, `expected a local path or s3:// URI (got ${JSON.stringify(raw)})`);
      continue;
    }
    const src = resolveDatasetSource(raw, key, baseDir, issues);
    if (src !== undefined) out.set(name, src);
  }
  return out;
}

/** dataset_mixer names resolve through datasets:, else are paths/URIs themselves, else Hub ids. */
function resolveMixerSources(
  stage: ResolvedStage,
  datasets: ReadonlyMap<string, string>,
  used: Set<string>,
  recipe: Recipe,
  baseDir: string | undefined,
  issues: IssueList,
): void {
  for (const name of Object.keys(stage.draft.args.datasetMixer)) {
    const key = keyPath(stage.pathOf("dataset_mixer"), name);
    if (datasets.has(name)) {
      used.add(name);
    } else if (looksLikeDatasetSource(name)) {
      const src = resolveDatasetSource(name, key, baseDir, issues);
      if (src !== undefined) recipe.datasetSources[name] = src;
    } else {
      checkHubDataset(name, key, issues);
    }
  }
}

function readEval(
  section: Mapping,
  datasets: ReadonlyMap<string, string>,
  used: Set<string>,
  baseDir: string | undefined,
  issues: IssueList,
): EvalArgs {
  const out: EvalArgs = { ...EVAL_DEFAULTS };
  for (const [key, value] of Object.entries(section)) {
    const at = keyPath("eval", key);
    if (value === null && Object.hasOwn(EVAL_SCHEMAS, key)) continue;
    if (key === "exact_match_dataset") {
      const res = validate(EVAL_SCHEMAS.exact_match_dataset, value, at);
      if (!res.ok) for (const m of res.messages) issues.fatal(m.key, m.message);
      else if (datasets.has(res.value)) {
        used.add(res.value);
        out.exactMatchDataset = datasets.get(res.value)!;
      } else {
        out.exactMatchDataset = resolveDatasetSource(res.value, at, baseDir, issues) ?? "";
      }
    } else if (key === "max_new_tokens" || key === "batch_size") {
      const res = validate(EVAL_SCHEMAS[key], value, at);
      if (!res.ok) for (const m of res.messages) issues.fatal(m.key, m.message);
      else if (key === "max_new_tokens") out.maxNewTokens = res.value;
      else out.batchSize = res.value;
    } else if (key === "benchmarks") {
      const res = validate(EVAL_SCHEMAS.benchmarks, value, at);
      if (!res.ok) for (const m of res.messages) issues.fatal(m.key, m.message);
      else {
        res.value.forEach((b, i) => {
          if (!(EVAL_BENCHMARKS as readonly string[]).includes(b)) {
            issues.fatal(`${at}[${i}]`, `unknown benchmark ${JSON.stringify(b)}; valid: ${EVAL_BENCHMARKS.join(", ")}`);
          }
        });
        out.benchmarks = res.value;
      }
    } else if (key === "limit" || key === "bench_max_new_tokens") {
      const res = validate(EVAL_SCHEMAS[key], value, at);
      if (!res.ok) for (const m of res.messages) issues.fatal(m.key, m.message);
      else if (key === "limit") out.limit = res.value;
      else out.benchMaxNewTokens = res.value;
    } else if (key === "bench_data_dir" || key === "judge_model") {
      const res = validate(EVAL_SCHEMAS[key], value, at);
      if (!res.ok) for (const m of res.messages) issues.fatal(m.key, m.message);
      else if (key === "bench_data_dir") out.benchDataDir = baseDir ? path.resolve(baseDir, res.value) : res.value;
      else out.judgeModel = res.value;
    } else if (Object.hasOwn(PLUMBING_KEYS, key)) {
      issues.warn(at, PLUMBING_KEYS[key]!);
    } else {
      issues.warn(at, `unknown key, not used; ${didYouMean(key, Object.keys(EVAL_SCHEMAS))}`);
    }
  }
  if (out.exactMatchDataset === "") {
    issues.warn(
      "eval.exact_match_dataset",
      "the eval stage has no question set: no exact-match accuracy, only preference accuracy and perplexity on the held-out splits",
    );
  }
  return out;
}

/** Checks that span stages: the stage list's shape, the DPO starting point, the model family. */
function checkRecipeShape(recipe: Recipe, model: ModelSource | undefined, stages: ReadonlyMap<StageKind, ResolvedStage>, issues: IssueList): void {
  const has = (s: Stage) => recipe.stages.includes(s);
  if (has(Stage.STAGE_MERGE) && !has(Stage.STAGE_SFT)) {
    issues.fatal("stages", "merge needs the sft stage: it merges this run's SFT adapter into the base model");
  }
  if (has(Stage.STAGE_SFT) && has(Stage.STAGE_DPO) && !has(Stage.STAGE_MERGE)) {
    issues.fatal("stages", "dpo after sft needs merge between them: DPO starts from the merged SFT model with a fresh adapter");
  }
  if (!model) return;
  if (!isMambaModel(model)) {
    issues.warn(
      "model_name_or_path",
      `"${model.uri}" does not look like a Mamba model ("mamba" is not in its name): Mamba-specific checks were skipped; mambalign runs any causal LM, but its kernels and defaults target Mamba`,
    );
  }
  if (has(Stage.STAGE_DPO) && !has(Stage.STAGE_SFT) && !looksInstructionTuned(model.uri)) {
    issues.warn(
      "model_name_or_path",
      `the dpo stage starts from "${model.uri}", which looks like a base model: DPO expects an SFT model (the original Mamba project skipped SFT); add the sft and merge stages or name an SFT model`,
    );
  }
  // state-spaces checkpoints ship the GPT-NeoX tokenizer, which has no chat template.
  if (model.kind === "hub" && /^state-spaces\//i.test(model.uri)) {
    for (const [kind, stage] of stages) {
      if (stage.draft.args.chatTemplate === "") {
        issues.warn(stage.pathOf("chat_template"), `${model.uri}'s tokenizer has no chat template: set chat_template (the Zephyr one, for example) so ${kind} can render conversations`);
      }
    }
  }
}
