// The RuntimeSpec the trainer writes for one job (proto3 JSON, docs/architecture.md "Runtime contract").
import { RuntimeSpec, Stage, type StageJob } from "@mambalign/core";
import { badJob } from "./errors.js";
import type { StagedInputs } from "./stage-inputs.js";

export type RuntimeCommand = "sft" | "dpo" | "merge";

export function runtimeCommand(stage: Stage): RuntimeCommand {
  switch (stage) {
    case Stage.STAGE_SFT:
      return "sft";
    case Stage.STAGE_DPO:
      return "dpo";
    case Stage.STAGE_MERGE:
      return "merge";
    default:
      throw badJob("stage", `${Stage[stage] ?? stage} is not a trainer stage (SFT, MERGE or DPO)`);
  }
}

export function buildRuntimeSpec(job: StageJob, inputs: StagedInputs, outputDir: string): RuntimeSpec {
  const command = runtimeCommand(job.stage);
  // runId: experiment trackers (report_to) group and tag their runs by the pipeline run.
  const base = { command, model: inputs.model, adapter: inputs.adapter, outputDir, runId: job.runId };
  if (command === "merge") return RuntimeSpec.fromPartial(base);
  if (!job.recipe?.args) throw badJob("recipe.args", `is missing; ${command.toUpperCase()} needs training arguments`);
  return RuntimeSpec.fromPartial({
    ...base,
    train: {
      trainFile: inputs.trainFile,
      evalFile: inputs.evalFile,
      args: job.recipe.args,
      ...(command === "dpo" && job.recipe.dpo ? { dpo: job.recipe.dpo } : {}),
    },
  });
}
