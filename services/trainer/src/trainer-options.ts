// The trainer's own settings, resolved once at start-up from the environment (docs/architecture.md).
import { hostname } from "node:os";
import { z } from "zod";
import { ConfigError, parseEnv, type RetryBackoff } from "@mambalign/core";

export interface TrainerOptions {
  /** Identity in the `workers` KV bucket and in logs: the pod name, else host-pid. */
  workerId: string;
  /** Jobs to run before the service stops by itself; 0 = unlimited (1 = Kubernetes job mode). */
  maxJobs: number;
  /** How long the runtime gets after SIGTERM to finish its step and checkpoint before it is killed. */
  checkpointGraceMs: number;
  /** JetStream lease on a running job; a crashed worker's job is redelivered after this. */
  ackWaitMs: number;
  /** Deliveries of one job before it is given up. */
  maxDeliver: number;
  /** Redelivery delay after a retryable failure or a preemption. */
  retryBackoff: RetryBackoff;
  /** How often the worker's status is written to the `workers` bucket. */
  heartbeatMs: number;
  /** GPUs of this worker; > 1 runs SFT/DPO data-parallel (`--nproc`, one process per GPU). */
  gpus: number;
  /** A stage over several nodes (a JobSet's pods): node 0 pulls the job, the others follow it (follower.ts). */
  rendezvous: Rendezvous;
  /** How the trainer authenticates to an MLflow server when it tags a run with the registered version
   * (mlflow-link.ts): MLflow's own variables, which the runtime's client reads too. */
  mlflowAuth: MlflowAuth;
}

/** MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME / _PASSWORD (basic); none = no header. */
export type MlflowAuth = { token: string } | { username: string; password: string } | null;

/** torchrun's multi-node environment (PET_*), as the launcher's JobSet sets it; nnodes 1 without it. */
export interface Rendezvous {
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** Names this set of pods (JOBSET_NAME): node 0 answers its followers on a subject made from it. */
  group: string;
}

export const TRAINER_DEFAULTS = {
  maxJobs: 0,
  checkpointGraceS: 120,
  ackWaitS: 60,
  // 2+4+8+16+32+60+60 s: a store or NATS outage of about 3 minutes costs no stage (preemptions count too).
  maxDeliver: 8,
  retryBackoff: { initialMs: 2_000, maxMs: 60_000 },
  heartbeatMs: 5_000,
  gpus: 1,
} as const;

const count = (name: string) =>
  z.coerce.number({ error: `${name} must be a number` }).int(`${name} must be an integer`).min(0, `${name} must be >= 0`);
const seconds = (name: string) =>
  z.coerce.number({ error: `${name} must be a number of seconds` }).positive(`${name} must be > 0`);

const EnvSchema = z.object({
  MAMBALIGN_TRAINER_MAX_JOBS: count("MAMBALIGN_TRAINER_MAX_JOBS").default(TRAINER_DEFAULTS.maxJobs),
  MAMBALIGN_CHECKPOINT_GRACE_S: seconds("MAMBALIGN_CHECKPOINT_GRACE_S").default(TRAINER_DEFAULTS.checkpointGraceS),
  MAMBALIGN_TRAINER_ACK_WAIT_S: seconds("MAMBALIGN_TRAINER_ACK_WAIT_S").min(1, "MAMBALIGN_TRAINER_ACK_WAIT_S must be >= 1").default(TRAINER_DEFAULTS.ackWaitS),
  MAMBALIGN_TRAINER_GPUS: count("MAMBALIGN_TRAINER_GPUS").min(1, "MAMBALIGN_TRAINER_GPUS must be >= 1").default(TRAINER_DEFAULTS.gpus),
  HOSTNAME: z.string().optional(),
  PET_NNODES: count("PET_NNODES").min(1, "PET_NNODES must be >= 1").default(1),
  PET_NODE_RANK: count("PET_NODE_RANK").default(0),
  PET_MASTER_ADDR: z.string().max(253).default(""),
  PET_MASTER_PORT: count("PET_MASTER_PORT").max(65535, "PET_MASTER_PORT must be <= 65535").default(29500),
  MLFLOW_TRACKING_TOKEN: z.string().optional(),
  MLFLOW_TRACKING_USERNAME: z.string().optional(),
  MLFLOW_TRACKING_PASSWORD: z.string().optional(),
  JOBSET_NAME: z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "JOBSET_NAME must be a Kubernetes object name").optional(),
});

/** KV keys allow `[-/=.\w]`; a pod name always fits, a host name may need cleaning. */
function kvSafe(id: string): string {
  return id.replace(/[^-=\w]/g, "_").slice(0, 200) || "trainer";
}

export function loadTrainerOptions(env: NodeJS.ProcessEnv = process.env): TrainerOptions {
  const e = parseEnv(EnvSchema, env);
  return {
    workerId: kvSafe(e.HOSTNAME ? `${e.HOSTNAME}-${process.pid}` : `${hostname()}-${process.pid}`),
    maxJobs: e.MAMBALIGN_TRAINER_MAX_JOBS,
    checkpointGraceMs: Math.round(e.MAMBALIGN_CHECKPOINT_GRACE_S * 1000),
    ackWaitMs: Math.round(e.MAMBALIGN_TRAINER_ACK_WAIT_S * 1000),
    maxDeliver: TRAINER_DEFAULTS.maxDeliver,
    retryBackoff: { ...TRAINER_DEFAULTS.retryBackoff },
    heartbeatMs: TRAINER_DEFAULTS.heartbeatMs,
    gpus: e.MAMBALIGN_TRAINER_GPUS,
    rendezvous: rendezvousOf(e),
    mlflowAuth: e.MLFLOW_TRACKING_TOKEN
      ? { token: e.MLFLOW_TRACKING_TOKEN }
      : e.MLFLOW_TRACKING_USERNAME
        ? { username: e.MLFLOW_TRACKING_USERNAME, password: e.MLFLOW_TRACKING_PASSWORD ?? "" }
        : null,
  };
}

function rendezvousOf(e: z.infer<typeof EnvSchema>): Rendezvous {
  const r = { nnodes: e.PET_NNODES, nodeRank: e.PET_NODE_RANK, masterAddr: e.PET_MASTER_ADDR, masterPort: e.PET_MASTER_PORT, group: e.JOBSET_NAME ?? "" };
  if (r.nnodes === 1) return { ...r, nodeRank: 0 };
  if (r.nodeRank >= r.nnodes) throw new ConfigError(`PET_NODE_RANK (${r.nodeRank}) must be below PET_NNODES (${r.nnodes})`, "PET_NODE_RANK");
  if (!r.masterAddr) throw new ConfigError("PET_MASTER_ADDR is required when PET_NNODES > 1", "PET_MASTER_ADDR");
  if (!r.group) throw new ConfigError("JOBSET_NAME is required when PET_NNODES > 1 (it pairs node 0 with its followers)", "JOBSET_NAME");
  return r;
}
