import { KubeConfig } from "@kubernetes/client-node";
import { Bus, Metrics, createLogger, startHttpEndpoints } from "@mambalign/core";
import { JobLauncher } from "./job-launcher.js";
import { forNodes, loadJobTemplate } from "./job-template.js";
import type { KubeProgramConfig } from "./kube-config.js";
import { PoolAutoscaler } from "./pool-autoscaler.js";

export interface RunningProgram {
  metricsPort: number;
  stop(): Promise<void>;
}

/**
 * Starts the launcher or the autoscaler with /metrics, /healthz and /readyz. `kubeConfig` defaults to
 * the in-cluster service account (or $KUBECONFIG outside a cluster).
 */
export async function startKubeProgram(cfg: KubeProgramConfig, kubeConfig?: KubeConfig): Promise<RunningProgram> {
  const logger = createLogger(`kube-${cfg.program}`, cfg.logLevel);
  const metrics = new Metrics();
  const kc = kubeConfig ?? defaultKubeConfig();
  const bus = await Bus.connect({
    servers: cfg.natsUrl,
    name: `mambalign-${cfg.program}`,
    logger,
    ...(cfg.natsCredentials ? { credentials: cfg.natsCredentials } : {}),
  });
  const outstanding = () => bus.jobQueueDepth(cfg.subjects);

  let loop: { healthy: boolean; stop(): Promise<void> };
  if (cfg.program === "launcher") {
    const template = forNodes(await loadJobTemplate(cfg.launcher.jobTemplatePath), cfg.launcher.nodes);
    const launcher = new JobLauncher({
      kubeConfig: kc,
      namespace: cfg.namespace,
      template,
      maxConcurrent: cfg.launcher.maxConcurrent,
      outstanding,
      intervalMs: cfg.intervalMs,
      logger,
      metrics,
    });
    await launcher.start();
    loop = launcher;
  } else {
    const { deployment, ...bounds } = cfg.autoscaler;
    const autoscaler = new PoolAutoscaler({
      kubeConfig: kc,
      namespace: cfg.namespace,
      deployment,
      bounds,
      outstanding,
      intervalMs: cfg.intervalMs,
      logger,
      metrics,
    });
    autoscaler.start();
    loop = autoscaler;
  }
  const http = await startHttpEndpoints({ port: cfg.metricsPort, metrics, ready: () => loop.healthy });
  logger.info({ program: cfg.program, namespace: cfg.namespace, metricsPort: http.port }, "started");
  return {
    metricsPort: http.port,
    async stop() {
      await loop.stop();
      await http.close();
      await bus.close();
    },
  };
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
