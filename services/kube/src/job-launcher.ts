import { KubeConfig, KubernetesObjectApi, type V1Job, Watch } from "@kubernetes/client-node";
import type { Logger, Metrics } from "@mambalign/core";
import { jobsToCreate } from "./job-planning.js";
import { collectionPath, instantiate, isFinished, type JobTemplate } from "./job-template.js";
import type { JobSet } from "./multi-node.js";

export interface JobLauncherOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  template: JobTemplate;
  maxConcurrent: number;
  /** Stage jobs still in the work queue (queued + delivered-unacked). */
  outstanding: () => Promise<number>;
  intervalMs: number;
  logger: Logger;
  metrics: Metrics;
}

export interface ReconcileResult {
  outstanding: number;
  unfinished: number;
  created: string[];
}

/**
 * Job mode: keeps one trainer Job (or JobSet, for stages over several nodes) per outstanding stage, at
 * most `maxConcurrent` at a time. It reconciles on a timer and whenever a watched Job changes (a finished
 * Job frees a slot at once).
 * Run a single replica: two launchers would each see the same gap and both fill it.
 */
export class JobLauncher {
  private readonly objects: KubernetesObjectApi;
  private readonly watch: Watch;
  private timer: NodeJS.Timeout | undefined;
  private watchAbort: AbortController | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private readonly gauges;

  constructor(private readonly opts: JobLauncherOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(opts.kubeConfig);
    this.watch = new Watch(opts.kubeConfig);
    const m = opts.metrics;
    this.gauges = {
      outstanding: m.gauge("mambalign_launcher_outstanding_jobs", "Stage jobs in the work queue (queued + in progress)"),
      unfinished: m.gauge("mambalign_launcher_unfinished_jobs", "Trainer Jobs not yet complete or failed"),
      created: m.counter("mambalign_launcher_jobs_created_total", "Trainer Jobs created"),
      errors: m.counter("mambalign_launcher_errors_total", "Failed reconciles"),
    };
  }

  /** One pass: count, plan, create. Safe to call concurrently with the loop (it queues behind it). */
  async reconcile(): Promise<ReconcileResult> {
    const { namespace, template } = this.opts;
    const { apiVersion, kind } = template.job;
    // Jobs first, queue second: a trainer acks its stage before its Job finishes, so a stage that ends
    // between the two reads is then counted as covered, never as uncovered (which would start a Job too many).
    const list = await this.objects.list<V1Job | JobSet>(apiVersion!, kind!, namespace, undefined, undefined, undefined, undefined, template.selector);
    const outstanding = await this.opts.outstanding();
    // A list's items carry no apiVersion/kind; isFinished needs the kind.
    const unfinished = list.items.filter((j) => !isFinished({ ...j, kind } as V1Job | JobSet)).length;
    const n = jobsToCreate({ outstanding, unfinished, maxConcurrent: this.opts.maxConcurrent });
    const created: string[] = [];
    for (let i = 0; i < n; i++) {
      const job = await this.objects.create(instantiate(template, namespace));
      created.push(job.metadata!.name!);
    }
    this.gauges.outstanding.set(outstanding);
    this.gauges.unfinished.set(unfinished + created.length);
    this.gauges.created.inc(created.length);
    if (created.length) this.opts.logger.info({ outstanding, unfinished, created }, "created trainer jobs");
    return { outstanding, unfinished, created };
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.opts.intervalMs);
    await this.startWatch();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.watchAbort?.abort();
    await this.running;
  }

  /** Whether the last reconcile succeeded (for /readyz). */
  healthy = false;

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .then(
        () => {
          this.healthy = true;
        },
        (err: unknown) => {
          this.healthy = false;
          this.gauges.errors.inc();
          this.opts.logger.error({ err }, "reconcile failed");
        },
      )
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    const path = collectionPath(this.opts.template, this.opts.namespace);
    this.watchAbort = await this.watch.watch(
      path,
      { labelSelector: this.opts.template.selector },
      () => this.kick(),
      (err: unknown) => {
        if (err && !this.stopped) this.opts.logger.warn({ err }, "job watch ended; re-establishing");
        // Watches end routinely (server timeouts); the timer covers the gap until the next one is up.
        if (!this.stopped) setTimeout(() => void this.startWatch(), 1000).unref();
      },
    );
  }
}
