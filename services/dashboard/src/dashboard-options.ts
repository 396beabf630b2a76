// The dashboard's settings, resolved once at start-up from the environment.
import { parseEnv } from "@mambalign/core";
import { z } from "zod";

export interface DashboardOptions {
  /** Interface the HTTP server listens on (MAMBALIGN_DASHBOARD_HOST, default 0.0.0.0). */
  host: string;
  /** HTTP port of the pages and their data (MAMBALIGN_DASHBOARD_PORT, default 8080; 0 picks a free one). */
  port: number;
  /** HTTP port of /metrics, /healthz and /readyz (MAMBALIGN_METRICS_PORT, default 9464). */
  metricsPort: number;
  /** pino level (LOG_LEVEL, default info). */
  logLevel: string;
  /**
   * gRPC addresses of the APIs it reads (MAMBALIGN_<SERVICE>_ADDR, default 127.0.0.1:50051 each). The trainer's is
   * empty by default: in a cluster its replicas are workers with no Service, and the queue shows their jobs instead.
   */
  addrs: { pipeline: string; registry: string; evaluator: string; trainer: string };
}

const port = (name: string, dflt: number) =>
  z.coerce.number({ error: `${name} must be a port number` }).int(`${name} must be an integer`).min(0, `${name} must be 0..65535`).max(65535, `${name} must be 0..65535`).default(dflt);

const EnvSchema = z.object({
  MAMBALIGN_DASHBOARD_HOST: z.string().min(1).default("0.0.0.0"),
  MAMBALIGN_DASHBOARD_PORT: port("MAMBALIGN_DASHBOARD_PORT", 8080),
  MAMBALIGN_METRICS_PORT: port("MAMBALIGN_METRICS_PORT", 9464),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  MAMBALIGN_PIPELINE_ADDR: z.string().min(1).default("127.0.0.1:50051"),
  MAMBALIGN_REGISTRY_ADDR: z.string().min(1).default("127.0.0.1:50051"),
  MAMBALIGN_EVALUATOR_ADDR: z.string().min(1).default("127.0.0.1:50051"),
  MAMBALIGN_TRAINER_ADDR: z.string().default(""),
});

export function loadDashboardOptions(env: NodeJS.ProcessEnv = process.env): DashboardOptions {
  const e = parseEnv(EnvSchema, env);
  return {
    host: e.MAMBALIGN_DASHBOARD_HOST,
    port: e.MAMBALIGN_DASHBOARD_PORT,
    metricsPort: e.MAMBALIGN_METRICS_PORT,
    logLevel: e.LOG_LEVEL,
    addrs: { pipeline: e.MAMBALIGN_PIPELINE_ADDR, registry: e.MAMBALIGN_REGISTRY_ADDR, evaluator: e.MAMBALIGN_EVALUATOR_ADDR, trainer: e.MAMBALIGN_TRAINER_ADDR },
  };
}
