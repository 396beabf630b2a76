// The demo's closing table: held-out exact match and preference accuracy of the base model, after
// SFT and after DPO, from the run's baseline evaluations and its eval stage.
import { type Run, Stage, StageStatus } from "@mambalign/core";
import { fmtNumber } from "../run-format.js";
import { textTable } from "../text-table.js";

export interface DemoRow {
  model: string;
  /** Registry version evaluated ("" = the base model). */
  version: string;
  exactMatch: number | undefined;
  preferenceAccuracy: number | undefined;
  perplexity: number | undefined;
}

export function demoRows(run: Run): DemoRow[] {
  const row = (model: string, version: string, m: Record<string, number> | undefined): DemoRow => ({
    model,
    version,
    exactMatch: m?.["eval/exact_match"],
    preferenceAccuracy: m?.["eval/preference_accuracy"],
    perplexity: m?.["eval/perplexity"],
  });
  const base = run.baselines.find((b) => b.label === "base");
  const sft = run.baselines.find((b) => b.label === "sft");
  const evalStage = run.stages.find((s) => s.stage === Stage.STAGE_EVAL);
  const dpo = run.stages.find((s) => s.stage === Stage.STAGE_DPO);
  const ok = (s: StageStatus | undefined) => s === StageStatus.STAGE_STATUS_SUCCEEDED;
  return [
    row("base (before)", "", ok(base?.status) ? base!.metrics : undefined),
    row("after SFT", sft?.versionId ?? "", ok(sft?.status) ? sft!.metrics : undefined),
    row("after DPO", dpo?.output ?? "", ok(evalStage?.status) ? evalStage!.metrics : undefined),
  ];
}

export function demoTable(rows: DemoRow[]): string {
  return textTable(
    ["MODEL", "VERSION", "HELD-OUT EXACT MATCH", "PREFERENCE ACCURACY", "PERPLEXITY"],
    rows.map((r) => [r.model, r.version || "preset", fmtNumber(r.exactMatch), fmtNumber(r.preferenceAccuracy), fmtNumber(r.perplexity)]),
  );
}
