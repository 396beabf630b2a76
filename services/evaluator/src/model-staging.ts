// Stages the model under evaluation: a version's files, and for an adapter its base, from the lineage
// the job carries (resolved by the pipeline) through core's ModelStager (cached across jobs).
import { type AdapterVersion, ArtifactKind, type ModelStager, Stage, type StageJob } from "@mambalign/core";
import { InvalidEvalJobError } from "./errors.js";

export interface StagedModel {
  /** `model` for the runtime spec: local directory, Hub id or preset. */
  model: string;
  /** Adapter directory applied on top of `model`, or "". */
  adapter: string;
  /** The version evaluated; undefined for the base model. */
  version: AdapterVersion | undefined;
  /** Parent chain of the version, nearest first (for comparisons in the report). */
  ancestors: AdapterVersion[];
  /** Name recorded in judgments: the version id, or the base model uri. */
  name: string;
}

// Lineage is short (base -> SFT -> merged -> DPO); a longer chain means a cycle in the registry.
const MAX_LINEAGE = 32;

/**
 * Resolves what to load: a MODEL version is the model itself; an ADAPTER version goes on top of the
 * nearest MODEL version in its parent chain, or else the base model reference.
 */
export async function stageModel(job: Pick<StageJob, "inputVersion" | "baseModel" | "lineage">, models: ModelStager): Promise<StagedModel> {
  const { inputVersion, baseModel } = job;
  if (!inputVersion) {
    const model = await models.ref(baseModel?.uri ?? "", "baseModel.uri");
    return { model, adapter: "", version: undefined, ancestors: [], name: baseModel?.uri ?? "" };
  }
  const version = resolved(job, inputVersion, "inputVersion");
  const ancestors: AdapterVersion[] = [];
  for (let parent = version.parent; parent; parent = ancestors.at(-1)!.parent) {
    if (ancestors.length >= MAX_LINEAGE || parent === version.id || ancestors.some((a) => a.id === parent)) {
      throw new InvalidEvalJobError("inputVersion", `lineage of ${version.id} loops or is longer than ${MAX_LINEAGE} at ${parent}`);
    }
    ancestors.push(resolved(job, parent, `parent of ${ancestors.at(-1)?.id ?? version.id}`));
  }
  const name = version.id;
  if (version.kind === ArtifactKind.ARTIFACT_KIND_MODEL) {
    return { model: await models.version(version, "inputVersion"), adapter: "", version, ancestors, name };
  }
  if (version.kind !== ArtifactKind.ARTIFACT_KIND_ADAPTER) {
    throw new InvalidEvalJobError("inputVersion", `version ${version.id} has no artifact kind (expected ADAPTER or MODEL)`);
  }
  const adapter = await models.version(version, "inputVersion");
  const modelVersion = ancestors.find((a) => a.kind === ArtifactKind.ARTIFACT_KIND_MODEL);
  const model = modelVersion
    ? await models.version(modelVersion, "inputVersion")
    : await models.ref((version.baseModel?.uri ? version.baseModel : baseModel)?.uri ?? "", "baseModel.uri");
  return { model, adapter, version, ancestors, name };
}

/** The registry version `id` as the job carries it (its lineage). */
function resolved(job: Pick<StageJob, "lineage">, id: string, field: string): AdapterVersion {
  const v = job.lineage.find((x) => x.id === id);
  if (!v) throw new InvalidEvalJobError(field, `registry version ${JSON.stringify(id)} not found in the job's resolved lineage`);
  return v;
}

/** Short label for charts: "base", "sft", "merge", "dpo", ... */
export function stageLabel(version: AdapterVersion | undefined): string {
  if (!version) return "base";
  const s = Stage[version.stage];
  return typeof s === "string" && version.stage !== Stage.STAGE_UNSPECIFIED ? s.replace(/^STAGE_/, "").toLowerCase() : version.id;
}

