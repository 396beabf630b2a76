// A run's training curves as chart specs: one row per logged training step (from the runtime's progress events,
// as WatchRun replays them), one small-multiples chart per stage of its loss and learning rate, and one of a DPO
// stage's rewards. `mambalign report` and the dashboard draw the same charts from these.
import { type RunEvent } from "../gen/index.js";
import { stageName } from "../recipe/stages.js";
import type { ChartSpec } from "./render-chart.js";

/** One logged training step: the runtime's progress fields and its extra per-step metrics (rewards/..., kl). */
export interface StepRow {
  stage: string;
  step: number;
  values: Record<string, number>;
}

const TRAIN_METRICS: [string, string][] = [
  ["train/loss", "loss"],
  ["train/learning_rate", "learning rate"],
  ["train/grad_norm", "grad norm"],
  ["train/tokens_per_s", "tokens/s"],
];
const DPO_METRICS: [string, string][] = [
  ["rewards/chosen", "reward (chosen)"],
  ["rewards/rejected", "reward (rejected)"],
  ["rewards/margins", "reward margin"],
  ["rewards/accuracies", "reward accuracy"],
  ["kl", "KL"],
  ["objective/kl", "KL"],
  ["rewards/kl", "KL"],
];

/** The training step an event logs, if it is one: a runtime progress event with a loss (generation progress has none). */
export function trainingStepOf(ev: RunEvent): StepRow | undefined {
  const rt = ev.kind?.$case === "runtime" ? ev.kind.value.kind : undefined;
  if (rt?.$case !== "progress" || !rt.value.loss) return undefined;
  const p = rt.value;
  const values: Record<string, number> = { "train/loss": p.loss, "train/learning_rate": p.lr, "train/grad_norm": p.gradNorm, "train/tokens_per_s": p.tokensPerS };
  for (const [k, v] of Object.entries(p.extra)) if (Number.isFinite(v)) values[k] = v;
  return { stage: stageName(ev.stage), step: p.step, values };
}

/** One small-multiples line chart of the metrics present, per step; null when none is. */
function stepChart(id: string, title: string, rows: StepRow[], metrics: [string, string][]): ChartSpec | null {
  const values = rows.flatMap((r) => metrics.flatMap(([key, name]) => (key in r.values ? [{ step: r.step, metric: name, value: r.values[key] }] : [])));
  if (!values.length) return null;
  const names = [...new Set(values.map((v) => v.metric))];
  return {
    id,
    title,
    spec: {
      title: { text: title, fontSize: 16 },
      data: { values },
      columns: Math.min(names.length, 4),
      facet: { field: "metric", type: "nominal", sort: names, title: null, header: { labelFontWeight: "bold" } },
      resolve: { scale: { y: "independent" } },
      spec: {
        width: 220,
        height: 150,
        mark: { type: "line", point: values.length < 200, color: "#4e79a7" },
        encoding: {
          x: { field: "step", type: "quantitative", title: "step", axis: { format: "d", tickMinStep: 1 } },
          // A learning rate of 2e-6 reads as such, not as 0.000002; tokens/s as 4000, not 4e+3.
          y: { field: "value", type: "quantitative", title: null, scale: { zero: false }, axis: { labelExpr: "datum.value != 0 && abs(datum.value) < 0.001 ? format(datum.value, '~e') : format(datum.value, '~r')" } },
        },
      },
    },
  };
}

/** Per training stage (in the order the steps name them) its curves, and a DPO stage's rewards. */
export function trainingCharts(steps: StepRow[]): ChartSpec[] {
  const stages = [...new Set(steps.map((s) => s.stage))];
  return stages
    .flatMap((stage) => {
      const rows = steps.filter((s) => s.stage === stage);
      return [stepChart(`${stage}-training`, `${stage}: training`, rows, TRAIN_METRICS), stepChart(`${stage}-rewards`, `${stage}: DPO rewards`, rows, DPO_METRICS)];
    })
    .filter((c): c is ChartSpec => c !== null);
}
