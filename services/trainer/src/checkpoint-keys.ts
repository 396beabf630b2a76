// Object keys the trainer owns: checkpoints/<run>/<stage>/<step>/ and checkpoints/<run>/<stage>/final/
// (and the trackers' files, tracker-files.ts: checkpoints/<run>/{tensorboard,wandb}/<stage>/).
import { Stage, validateRunId } from "@mambalign/core";

const STAGE_SLUGS: Partial<Record<Stage, string>> = {
  [Stage.STAGE_SFT]: "sft",
  [Stage.STAGE_MERGE]: "merge",
  [Stage.STAGE_DPO]: "dpo",
};

/** "sft" | "merge" | "dpo" for the stages the trainer runs; undefined for others. */
export function stageSlug(stage: Stage): string | undefined {
  return STAGE_SLUGS[stage];
}

/** Everything the trainer stores for a run lies under this prefix. */
export function checkpointRoot(runId: string): string {
  return `checkpoints/${validateRunId(runId)}`;
}

export function checkpointParent(runId: string, stage: Stage): string {
  const slug = stageSlug(stage);
  if (!slug) throw new Error(`stage ${Stage[stage] ?? stage} has no checkpoints`);
  return `${checkpointRoot(runId)}/${slug}`;
}

export function checkpointPrefix(runId: string, stage: Stage, step: number): string {
  return `${checkpointParent(runId, stage)}/${step}`;
}

/** Where the stage's finished artifact is uploaded before the registry copies it. */
export function finalPrefix(runId: string, stage: Stage): string {
  return `${checkpointParent(runId, stage)}/final`;
}
