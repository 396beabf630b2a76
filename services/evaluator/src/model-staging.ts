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

/**
 * Resolves what to load: a MODEL version is the model itself; an ADAPTER version goes on top of the
 * nearest MODEL version in its parent chain, or else the base model reference. The job carries the
 * version and its ancestors, nearest first (`lineage`).
 */
export async function stageModel(job: Pick<StageJob, "inputVersion" | "baseModel" | "lineage">, models: ModelStager): Promise<StagedModel> {
  const { inputVersion, baseModel } = job;
  if (!inputVersion) {
    const model = await models.ref(baseModel?.uri ?? "", "baseModel.uri");
    return { model, adapter: "", version: undefined, ancestors: [], name: baseModel?.uri ?? "" };
  }
  const [version, ...ancestors] = job.lineage;
  if (version?.id !== inputVersion) {
    throw new InvalidEvalJobError("inputVersion", `registry version ${JSON.stringify(inputVersion)} not found in the job's resolved lineage`);
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

/** Short label for charts: "base", "sft", "merge", "dpo", ... */
export function stageLabel(version: AdapterVersion | undefined): string {
  if (!version) return "base";
  const s = Stage[version.stage];
  return typeof s === "string" && version.stage !== Stage.STAGE_UNSPECIFIED ? s.replace(/^STAGE_/, "").toLowerCase() : version.id;
}

