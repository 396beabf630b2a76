import { Stage } from "../gen/mambalign/v1/common.js";
import type { IssueList } from "./issues.js";
import { keyPath } from "./issues.js";
import { didYouMean } from "./suggest.js";

/** The only order a run may take; a recipe lists an ordered subset. */
export const STAGE_ORDER: readonly Stage[] = [Stage.STAGE_SFT, Stage.STAGE_MERGE, Stage.STAGE_DPO, Stage.STAGE_EVAL];

const BY_NAME: Readonly<Record<string, Stage>> = {
  sft: Stage.STAGE_SFT,
  merge: Stage.STAGE_MERGE,
  dpo: Stage.STAGE_DPO,
  eval: Stage.STAGE_EVAL,
};

export function stageName(stage: Stage): string {
  return Object.keys(BY_NAME).find((k) => BY_NAME[k] === stage) ?? "unknown";
}

/** Parses `stages:`; undefined (with fatal issues naming the entry) when invalid. */
export function parseStages(value: unknown, key: string, issues: IssueList): Stage[] | undefined {
  if (!Array.isArray(value)) {
    issues.fatal(key, "expected a list such as [sft, merge, dpo, eval]");
    return undefined;
  }
  if (value.length === 0) {
    issues.fatal(key, "must list at least one stage of sft, merge, dpo, eval");
    return undefined;
  }
  const stages: Stage[] = [];
  let ok = true;
  value.forEach((raw, i) => {
    const at = keyPath(key, i);
    const name = typeof raw === "string" ? raw.trim().toLowerCase().replace(/^stage_/, "") : undefined;
    const stage = name === undefined ? undefined : BY_NAME[name];
    if (stage === undefined) {
      issues.fatal(at, `unknown stage ${JSON.stringify(raw)}: expected sft, merge, dpo or eval; ${didYouMean(String(raw), Object.keys(BY_NAME))}`);
      ok = false;
      return;
    }
    if (stages.includes(stage)) {
      issues.fatal(at, `stage ${name} is listed twice`);
      ok = false;
      return;
    }
    const prev = stages[stages.length - 1];
    if (prev !== undefined && STAGE_ORDER.indexOf(stage) < STAGE_ORDER.indexOf(prev)) {
      issues.fatal(at, `stage ${name} comes after ${stageName(prev)}: stages must keep the order sft, merge, dpo, eval`);
      ok = false;
      return;
    }
    stages.push(stage);
  });
  return ok ? stages : undefined;
}
