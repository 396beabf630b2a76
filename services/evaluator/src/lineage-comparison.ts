// Earlier evaluations along a version's lineage (base -> SFT -> merged -> DPO), for the report's comparison.
import type { Evaluation, Logger, ObjectStore, ProtoKv } from "@mambalign/core";
import { type EvalEntry, parseEvalResults } from "./judging/index.js";
import { type StagedModel, stageLabel } from "./model-staging.js";

function latest(evals: Evaluation[], pick: (e: Evaluation) => boolean): Evaluation | undefined {
  return evals.filter(pick).sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0)).at(-1);
}

/**
 * One entry per ancestor that has been evaluated (its latest evaluation), oldest first, and the run's
 * base-model evaluation before them. Each comes from that evaluation's results.json, whose last entry
 * is its own. Unreadable results are skipped with a warning: a comparison is never worth failing for.
 */
export async function lineageEntries(opts: {
  evals: ProtoKv<Evaluation>;
  store: ObjectStore;
  staged: StagedModel;
  runId: string;
  ownLabel: string;
  logger: Logger;
}): Promise<EvalEntry[]> {
  const { staged, logger } = opts;
  if (!staged.version) return [];
  const all = await opts.evals.values();
  const picks: { label: string; evaluation: Evaluation | undefined }[] = [
    { label: "base", evaluation: opts.runId ? latest(all, (e) => e.versionId === "" && e.runId === opts.runId) : undefined },
    ...[...staged.ancestors].reverse().map((a) => ({ label: stageLabel(a), evaluation: latest(all, (e) => e.versionId === a.id) })),
  ];
  const used = new Set([opts.ownLabel]);
  const entries: EvalEntry[] = [];
  for (const { label, evaluation } of picks) {
    if (!evaluation) continue;
    try {
      const results = parseEvalResults(JSON.parse((await opts.store.get(evaluation.resultsKey)).toString("utf8")));
      const own = results.entries.at(-1)!;
      // Two versions of one stage in a lineage (rare) are told apart by id.
      const shown = used.has(label) ? evaluation.versionId || evaluation.id : label;
      used.add(shown);
      entries.push({ ...own, label: shown });
    } catch (err) {
      logger.warn({ err, evalId: evaluation.id }, "skipping an earlier evaluation in the comparison");
    }
  }
  return entries;
}
