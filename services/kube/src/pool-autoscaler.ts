import { AppsV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { Logger, Metrics } from "@mambalign/core";
import { decideReplicas, pruneHistory, type Recommendation, type ScaleBounds, type ScaleDecision } from "./pool-scaling.js";

export interface PoolAutoscalerOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  deployment: string;
  bounds: ScaleBounds;
  outstanding: () => Promise<number>;
  intervalMs: number;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

/**
 * Pool mode: sets the trainer Deployment's replicas from the work queue through its scale
 * subresource (the only write it is granted), with the stabilisation and cooldown of `decideReplicas`.
 */
export class PoolAutoscaler {
  private readonly apps: AppsV1Api;
  private history: Recommendation[] = [];
  private lastChangeAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly now: () => number;
  private readonly gauges;
  healthy = false;

  constructor(private readonly opts: PoolAutoscalerOptions) {
    this.apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.now = opts.now ?? Date.now;
    const m = opts.metrics;
    this.gauges = {
      outstanding: m.gauge("mambalign_autoscaler_outstanding_jobs", "Stage jobs in the work queue (queued + in progress)"),
      replicas: m.gauge("mambalign_autoscaler_replicas", "Trainer replicas after the last decision"),
      changes: m.counter("mambalign_autoscaler_scale_changes_total", "Replica changes made", ["direction"]),
      errors: m.counter("mambalign_autoscaler_errors_total", "Failed autoscaler ticks"),
    };
  }

  async tick(): Promise<ScaleDecision & { current: number }> {
    const { namespace, deployment: name, bounds } = this.opts;
    const [outstanding, scale] = await Promise.all([
      this.opts.outstanding(),
      this.apps.readNamespacedDeploymentScale({ name, namespace }),
    ]);
    const current = scale.spec?.replicas ?? 0;
    const now = this.now();
    const decision = decideReplicas(bounds, { outstanding, current, now, lastChangeAt: this.lastChangeAt, history: this.history });
    this.history = pruneHistory([...this.history, { at: now, replicas: decision.target }], now, bounds.scaleDownStabilisationMs);
    if (decision.replicas !== current) {
      await this.apps.patchNamespacedDeploymentScale(
        { name, namespace, body: { spec: { replicas: decision.replicas } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      this.lastChangeAt = now;
      this.gauges.changes.inc({ direction: decision.replicas > current ? "up" : "down" });
      this.opts.logger.info({ outstanding, from: current, to: decision.replicas, reason: decision.reason }, "scaled trainer pool");
    }
    this.gauges.outstanding.set(outstanding);
    this.gauges.replicas.set(decision.replicas);
    return { ...decision, current };
  }

  start(): void {
    const run = () => {
      if (this.running) return;
      this.running = this.tick()
        .then(
          () => (this.healthy = true),
          (err: unknown) => {
            this.healthy = false;
            this.gauges.errors.inc();
            this.opts.logger.error({ err }, "autoscaler tick failed");
          },
        )
        .finally(() => (this.running = undefined));
    };
    this.timer = setInterval(run, this.opts.intervalMs);
    run();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
