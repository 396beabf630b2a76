import { z } from "zod";
import { ALL_JOB_SUBJECTS, ConfigError, type JobSubject, natsCredentials, parseEnv } from "@mambalign/core";

/** Settings shared by both programs, resolved once at start-up from the environment. */
export interface KubeProgramConfig {
  program: "launcher" | "autoscaler";
  natsUrl: string;
  /** The "kube" NATS user (MAMBALIGN_NATS_USER / MAMBALIGN_NATS_PASSWORD); undefined: anonymous. */
  natsCredentials: { user: string; password: string } | undefined;
  namespace: string;
  metricsPort: number;
  logLevel: string;
  /** Work-queue subjects whose jobs the trainer serves. */
  subjects: JobSubject[];
  intervalMs: number;
  /** nodes > 1: each stage runs as a JobSet of that many pods (multi-node.ts). */
  launcher: { jobTemplatePath: string; maxConcurrent: number; nodes: number };
  autoscaler: { deployment: string; min: number; max: number; scaleDownStabilisationMs: number; cooldownMs: number };
}

const count = (name: string, dflt: number) =>
  z.coerce.number({ error: `${name} must be a number` }).int(`${name} must be an integer`).min(0, `${name} must be >= 0`).default(dflt);

const EnvSchema = z.object({
  MAMBALIGN_KUBE_PROGRAM: z.enum(["launcher", "autoscaler"], { error: "MAMBALIGN_KUBE_PROGRAM must be 'launcher' or 'autoscaler'" }),
  MAMBALIGN_NATS_URL: z.string().min(1).default("nats://127.0.0.1:4222"),
  MAMBALIGN_NATS_USER: z.string().default(""),
  MAMBALIGN_NATS_PASSWORD: z.string().default(""),
  MAMBALIGN_KUBE_NAMESPACE: z.string().min(1, "MAMBALIGN_KUBE_NAMESPACE is required (the namespace of the trainer Jobs/Deployment)"),
  MAMBALIGN_METRICS_PORT: count("MAMBALIGN_METRICS_PORT", 9464).refine((p) => p <= 65535, "MAMBALIGN_METRICS_PORT must be 0..65535"),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  MAMBALIGN_QUEUE_SUBJECTS: z.string().default("jobs.train,jobs.merge"),
  MAMBALIGN_KUBE_INTERVAL_S: count("MAMBALIGN_KUBE_INTERVAL_S", 10).refine((s) => s >= 1, "MAMBALIGN_KUBE_INTERVAL_S must be >= 1"),
  MAMBALIGN_LAUNCHER_JOB_TEMPLATE: z.string().default("/etc/mambalign/job-template.json"),
  MAMBALIGN_LAUNCHER_MAX_CONCURRENT: count("MAMBALIGN_LAUNCHER_MAX_CONCURRENT", 4),
  MAMBALIGN_LAUNCHER_NODES: count("MAMBALIGN_LAUNCHER_NODES", 1).refine((n) => n >= 1, "MAMBALIGN_LAUNCHER_NODES must be >= 1"),
  MAMBALIGN_AUTOSCALER_DEPLOYMENT: z.string().default(""),
  MAMBALIGN_AUTOSCALER_MIN: count("MAMBALIGN_AUTOSCALER_MIN", 0),
  MAMBALIGN_AUTOSCALER_MAX: count("MAMBALIGN_AUTOSCALER_MAX", 4),
  MAMBALIGN_AUTOSCALER_SCALE_DOWN_STABILISATION_S: count("MAMBALIGN_AUTOSCALER_SCALE_DOWN_STABILISATION_S", 300),
  MAMBALIGN_AUTOSCALER_COOLDOWN_S: count("MAMBALIGN_AUTOSCALER_COOLDOWN_S", 60),
});

export function loadKubeProgramConfig(env: NodeJS.ProcessEnv = process.env): KubeProgramConfig {
  const e = parseEnv(EnvSchema, env);
  const subjects = e.MAMBALIGN_QUEUE_SUBJECTS.split(",").map((s) => s.trim()).filter(Boolean);
  if (!subjects.length) throw new ConfigError("MAMBALIGN_QUEUE_SUBJECTS must name at least one subject", "MAMBALIGN_QUEUE_SUBJECTS");
  for (const s of subjects) {
    if (!(ALL_JOB_SUBJECTS as readonly string[]).includes(s)) {
      throw new ConfigError(`MAMBALIGN_QUEUE_SUBJECTS: "${s}" is not one of ${ALL_JOB_SUBJECTS.join(", ")}`, "MAMBALIGN_QUEUE_SUBJECTS");
    }
  }
  if (e.MAMBALIGN_KUBE_PROGRAM === "autoscaler") {
    if (!e.MAMBALIGN_AUTOSCALER_DEPLOYMENT) {
      throw new ConfigError("MAMBALIGN_AUTOSCALER_DEPLOYMENT is required for the autoscaler", "MAMBALIGN_AUTOSCALER_DEPLOYMENT");
    }
    if (e.MAMBALIGN_AUTOSCALER_MIN > e.MAMBALIGN_AUTOSCALER_MAX) {
      throw new ConfigError("MAMBALIGN_AUTOSCALER_MIN must not exceed MAMBALIGN_AUTOSCALER_MAX", "MAMBALIGN_AUTOSCALER_MIN");
    }
  }
  return {
    program: e.MAMBALIGN_KUBE_PROGRAM,
    natsUrl: e.MAMBALIGN_NATS_URL,
    natsCredentials: natsCredentials(e),
    namespace: e.MAMBALIGN_KUBE_NAMESPACE,
    metricsPort: e.MAMBALIGN_METRICS_PORT,
    logLevel: e.LOG_LEVEL,
    subjects: subjects as JobSubject[],
    intervalMs: e.MAMBALIGN_KUBE_INTERVAL_S * 1000,
    launcher: {
      jobTemplatePath: e.MAMBALIGN_LAUNCHER_JOB_TEMPLATE,
      maxConcurrent: e.MAMBALIGN_LAUNCHER_MAX_CONCURRENT,
      nodes: e.MAMBALIGN_LAUNCHER_NODES,
    },
    autoscaler: {
      deployment: e.MAMBALIGN_AUTOSCALER_DEPLOYMENT,
      min: e.MAMBALIGN_AUTOSCALER_MIN,
      max: e.MAMBALIGN_AUTOSCALER_MAX,
      scaleDownStabilisationMs: e.MAMBALIGN_AUTOSCALER_SCALE_DOWN_STABILISATION_S * 1000,
      cooldownMs: e.MAMBALIGN_AUTOSCALER_COOLDOWN_S * 1000,
    },
  };
}
