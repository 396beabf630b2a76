// How runs and their stages read in a terminal (status, logs, demo).
import { type Run, RunStatus, Stage, type StageState, StageStatus, stageName } from "@mambalign/core";
import { textTable } from "./text-table.js";

export function runStatusName(s: RunStatus): string {
  return (RunStatus[s] ?? "UNKNOWN").replace("RUN_STATUS_", "").toLowerCase();
}

export function stageStatusName(s: StageStatus): string {
  return (StageStatus[s] ?? "UNKNOWN").replace("STAGE_STATUS_", "").toLowerCase();
}

/** "run failed: sft failed: ..."; a message that only repeats the status ("run succeeded") is not printed twice. */
export function runEndLine(status: StageStatus, message: string): string {
  const head = `run ${stageStatusName(status)}`;
  return message && message !== head ? `${head}: ${message}` : head;
}

/** "sft:succeeded merge:running dpo:pending eval:pending" */
export function stagesLine(run: Run): string {
  return run.stages.map((s) => `${stageName(s.stage)}:${stageStatusName(s.status)}`).join(" ");
}

export function runsTable(runs: Run[]): string {
  return textTable(
    ["RUN", "STATUS", "STAGES", "CREATED", "MESSAGE"],
    runs.map((r) => [r.id, runStatusName(r.status), stagesLine(r), r.createdAt?.toISOString().slice(0, 19) ?? "", r.message]),
  );
}

const HEADLINE_METRICS = ["train/loss", "rewards/accuracies", "rewards/margins", "eval/exact_match", "eval/preference_accuracy", "eval/perplexity"];

export function fmtNumber(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "-";
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
}

function metricsText(metrics: Record<string, number>): string {
  return HEADLINE_METRICS.filter((k) => metrics[k] !== undefined).map((k) => `${k}=${fmtNumber(metrics[k])}`).join(" ");
}

function stageRow(s: StageState): string[] {
  const steps = s.totalSteps ? `${s.step}/${s.totalSteps}` : "";
  return [stageName(s.stage), stageStatusName(s.status), steps, s.output, metricsText(s.metrics), s.message];
}

/** `mambalign status RUN`: the run, its stages and its baseline evaluations. */
export function runDetails(run: Run): string {
  const lines = [
    `run        ${run.id}`,
    `request    ${run.requestId}`,
    `recipe     ${run.recipe?.name ?? ""} (model ${run.recipe?.model?.uri ?? ""})`,
    `status     ${runStatusName(run.status)}${run.message ? `: ${run.message}` : ""}`,
    `created    ${run.createdAt?.toISOString() ?? ""}${run.startedBy ? ` by ${run.startedBy}` : ""}   updated ${run.updatedAt?.toISOString() ?? ""}`,
    `datasets   sft ${run.trainDatasetSft || "-"}  dpo ${run.trainDatasetDpo || "-"}`,
    "",
    textTable(["STAGE", "STATUS", "STEP", "OUTPUT", "METRICS", "MESSAGE"], run.stages.map(stageRow)),
  ];
  if (run.baselines.length) {
    lines.push(
      "",
      textTable(
        ["BASELINE", "STATUS", "VERSION", "EVALUATION", "METRICS"],
        run.baselines.map((b) => [b.label, stageStatusName(b.status), b.jobId ? b.versionId || "(base model)" : "-", b.output, metricsText(b.metrics) || b.message]),
      ),
    );
  }
  if (run.warnings.length) lines.push("", "warnings:", ...run.warnings.map((w) => `  ${w}`));
  return lines.join("\n");
}

export function stageLabel(stage: Stage, jobId: string): string {
  // Baseline evaluations are eval jobs named "<run>.eval-<label>.<attempt>".
  const m = /\.eval-([a-z]+)\.\d+$/.exec(jobId);
  return m ? `eval(${m[1]})` : stage === Stage.STAGE_UNSPECIFIED ? "run" : stageName(stage);
}
