import path from "node:path";
import { z } from "zod";
import { GRPC_MAX_MESSAGE_BYTES } from "./grpc/server.js";
import { LocalRoots } from "./local-roots.js";
import { ConfigError, parseEnv } from "./parse-env.js";
import { loadSecurityConfig, type SecurityConfig } from "./security-config.js";
import type { S3Auth } from "./store/s3-object-store.js";

// Callers import the error with the loader.
export { ConfigError };

/** Object store settings; `kind: "fs"` is the embedded default, `s3` any S3 store. */
export interface StoreConfig {
  kind: "s3" | "fs";
  fsRoot: string;
  s3: { endPoint: string; region: string; bucket: string; auth: S3Auth; accessKey: string; secretKey: string };
}

/** Everything a service needs, resolved once at start-up. Nothing downstream reads the environment. */
export interface ServiceConfig {
  service: string;
  natsUrl: string;
  /** This service's NATS user (MAMBALIGN_NATS_USER + MAMBALIGN_NATS_PASSWORD); undefined: anonymous. */
  natsCredentials: { user: string; password: string } | undefined;
  store: StoreConfig;
  grpcHost: string;
  grpcPort: number;
  /** Largest request a gRPC server accepts (MAMBALIGN_GRPC_MAX_MESSAGE_BYTES). */
  grpcMaxMessageBytes: number;
  metricsPort: number;
  logLevel: string;
  workDir: string;
  python: string;
  addrs: Record<ServiceName, string>;
  /** Local files PrepareDataset may read (MAMBALIGN_DATA_ROOTS; none by default). */
  dataRoots: LocalRoots;
  /** Local directories ExportVersion may write into (MAMBALIGN_EXPORT_ROOTS; none by default). */
  exportRoots: LocalRoots;
  /** Tokens, OIDC and TLS of the gRPC server, and this service's own credentials for its peers. */
  security: SecurityConfig;
}

export const SERVICE_NAMES = ["datasets", "registry", "trainer", "evaluator", "pipeline"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const port = (name: string, dflt: number) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be an integer`)
    .min(0, `${name} must be 0..65535`)
    .max(65535, `${name} must be 0..65535`)
    .default(dflt);

const EnvSchema = z.object({
  MAMBALIGN_NATS_URL: z.string().min(1).default("nats://127.0.0.1:4222"),
  MAMBALIGN_NATS_USER: z.string().default(""),
  MAMBALIGN_NATS_PASSWORD: z.string().default(""),
  MAMBALIGN_STORE: z.enum(["s3", "fs"], { error: "MAMBALIGN_STORE must be 's3' or 'fs'" }).default("s3"),
  MAMBALIGN_FS_ROOT: z.string().default("./.mambalign/objects"),
  MAMBALIGN_S3_ENDPOINT: z.string().default(""),
  MAMBALIGN_S3_REGION: z.string().default("us-east-1"),
  MAMBALIGN_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "MAMBALIGN_BUCKET must be a valid S3 bucket name")
    .default("mambalign"),
  MAMBALIGN_S3_AUTH: z.enum(["keys", "workload-identity"], { error: "MAMBALIGN_S3_AUTH must be 'keys' or 'workload-identity'" }).default("keys"),
  AWS_ACCESS_KEY_ID: z.string().default(""),
  AWS_SECRET_ACCESS_KEY: z.string().default(""),
  MAMBALIGN_GRPC_HOST: z.string().default("0.0.0.0"),
  MAMBALIGN_GRPC_PORT: port("MAMBALIGN_GRPC_PORT", 50051),
  MAMBALIGN_METRICS_PORT: port("MAMBALIGN_METRICS_PORT", 9464),
  MAMBALIGN_GRPC_MAX_MESSAGE_BYTES: z.coerce
    .number({ error: "MAMBALIGN_GRPC_MAX_MESSAGE_BYTES must be a number of bytes" })
    .int("MAMBALIGN_GRPC_MAX_MESSAGE_BYTES must be an integer")
    .min(1024, "MAMBALIGN_GRPC_MAX_MESSAGE_BYTES must be >= 1024")
    .max(2 ** 31 - 1, "MAMBALIGN_GRPC_MAX_MESSAGE_BYTES must be < 2 GiB")
    .default(GRPC_MAX_MESSAGE_BYTES),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  MAMBALIGN_WORK_DIR: z.string().default("./.mambalign/work"),
  MAMBALIGN_PYTHON: z.string().default("python3"),
  MAMBALIGN_DATASETS_ADDR: z.string().default("127.0.0.1:50051"),
  MAMBALIGN_REGISTRY_ADDR: z.string().default("127.0.0.1:50051"),
  MAMBALIGN_TRAINER_ADDR: z.string().default("127.0.0.1:50051"),
  MAMBALIGN_EVALUATOR_ADDR: z.string().default("127.0.0.1:50051"),
  MAMBALIGN_PIPELINE_ADDR: z.string().default("127.0.0.1:50051"),
  // Lists of directories separated by ":" (";" on Windows). Empty: callers cannot name local paths.
  MAMBALIGN_DATA_ROOTS: z.string().default(""),
  MAMBALIGN_EXPORT_ROOTS: z.string().default(""),
});

/** MAMBALIGN_NATS_USER and MAMBALIGN_NATS_PASSWORD, both or neither (anonymous). */
export function natsCredentials(e: { MAMBALIGN_NATS_USER: string; MAMBALIGN_NATS_PASSWORD: string }): { user: string; password: string } | undefined {
  if (Boolean(e.MAMBALIGN_NATS_USER) !== Boolean(e.MAMBALIGN_NATS_PASSWORD)) {
    const missing = e.MAMBALIGN_NATS_USER ? "MAMBALIGN_NATS_PASSWORD" : "MAMBALIGN_NATS_USER";
    throw new ConfigError(`${missing} is required when the other of MAMBALIGN_NATS_USER / MAMBALIGN_NATS_PASSWORD is set`, missing);
  }
  return e.MAMBALIGN_NATS_USER ? { user: e.MAMBALIGN_NATS_USER, password: e.MAMBALIGN_NATS_PASSWORD } : undefined;
}

/** Resolves the service's whole configuration from the environment, failing with the variable at fault. */
export function loadConfig(service: string, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const e = parseEnv(EnvSchema, env);
  if (e.MAMBALIGN_STORE === "s3") {
    // Workload identity (IRSA, EKS Pod Identity) replaces the static keys.
    const keys = e.MAMBALIGN_S3_AUTH === "keys" ? (["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] as const) : [];
    for (const v of ["MAMBALIGN_S3_ENDPOINT", ...keys] as const) {
      if (!e[v]) throw new ConfigError(`${v} is required when MAMBALIGN_STORE=s3${keys.length ? " (or MAMBALIGN_S3_AUTH=workload-identity)" : ""}`, v);
    }
  }
  return {
    service,
    natsUrl: e.MAMBALIGN_NATS_URL,
    natsCredentials: natsCredentials(e),
    store: {
      kind: e.MAMBALIGN_STORE,
      fsRoot: path.resolve(e.MAMBALIGN_FS_ROOT),
      s3: {
        endPoint: e.MAMBALIGN_S3_ENDPOINT,
        region: e.MAMBALIGN_S3_REGION,
        bucket: e.MAMBALIGN_BUCKET,
        auth: e.MAMBALIGN_S3_AUTH,
        accessKey: e.AWS_ACCESS_KEY_ID,
        secretKey: e.AWS_SECRET_ACCESS_KEY,
      },
    },
    grpcHost: e.MAMBALIGN_GRPC_HOST,
    grpcPort: e.MAMBALIGN_GRPC_PORT,
    grpcMaxMessageBytes: e.MAMBALIGN_GRPC_MAX_MESSAGE_BYTES,
    metricsPort: e.MAMBALIGN_METRICS_PORT,
    logLevel: e.LOG_LEVEL,
    workDir: path.resolve(e.MAMBALIGN_WORK_DIR),
    python: e.MAMBALIGN_PYTHON,
    addrs: {
      datasets: e.MAMBALIGN_DATASETS_ADDR,
      registry: e.MAMBALIGN_REGISTRY_ADDR,
      trainer: e.MAMBALIGN_TRAINER_ADDR,
      evaluator: e.MAMBALIGN_EVALUATOR_ADDR,
      pipeline: e.MAMBALIGN_PIPELINE_ADDR,
    },
    dataRoots: LocalRoots.parse(e.MAMBALIGN_DATA_ROOTS, "MAMBALIGN_DATA_ROOTS", "read"),
    exportRoots: LocalRoots.parse(e.MAMBALIGN_EXPORT_ROOTS, "MAMBALIGN_EXPORT_ROOTS", "write"),
    security: loadSecurityConfig(env),
  };
}
