import type { Logger } from "pino";
import { Bus } from "./bus/index.js";
import type { ServiceConfig } from "./config.js";
import { createLogger } from "./logging.js";
import { Metrics, startHttpEndpoints } from "./metrics.js";
import { startGrpcServer, type ServerSecurity, type ServiceBinding } from "./grpc/index.js";
import { serverSecurityFor } from "./security-config.js";
import { createObjectStore, S3ObjectStore, type ObjectStore } from "./store/index.js";

/** What every service is built from; made once per process (shared by all services under `mambalign up`). */
export interface ServiceDeps {
  config: ServiceConfig;
  logger: Logger;
  metrics: Metrics;
  bus: Bus;
  store: ObjectStore;
}

/** A started service: the gRPC bindings it serves and how to stop its background work. */
export interface StartedService {
  name: string;
  bindings: ServiceBinding[];
  /** Stops consumers/workers (after the gRPC server stopped taking calls). */
  stop(): Promise<void>;
}

/** Connects to NATS (ensuring streams) and the object store (ensuring the bucket). */
export async function connectDeps(config: ServiceConfig, opts: { logger?: Logger; metrics?: Metrics } = {}): Promise<ServiceDeps> {
  const logger = opts.logger ?? createLogger(config.service, config.logLevel);
  const metrics = opts.metrics ?? new Metrics();
  const bus = await Bus.connect({
    servers: config.natsUrl,
    name: config.service,
    logger,
    ...(config.natsCredentials ? { credentials: config.natsCredentials } : {}),
  });
  await bus.ensureStreams();
  const store = createObjectStore(
    config.store.kind === "fs" ? { kind: "fs", fsRoot: config.store.fsRoot } : { kind: "s3", s3: config.store.s3 },
  );
  if (store instanceof S3ObjectStore) await store.ensureBucket();
  return { config, logger, metrics, bus, store };
}

/**
 * Serves started services on one gRPC port plus the HTTP health/metrics port, and stops everything
 * gracefully on SIGTERM/SIGINT. Used by each service's main.ts and by `mambalign up`.
 */
export async function serveUntilSignal(
  deps: ServiceDeps,
  services: StartedService[],
  opts: { signals?: NodeJS.Signals[]; graceMs?: number; security?: ServerSecurity } = {},
): Promise<{ grpcPort: number; metricsPort: number; shutdown(): Promise<void> }> {
  const { config, logger } = deps;
  const grpc = await startGrpcServer({
    host: config.grpcHost,
    port: config.grpcPort,
    maxMessageBytes: config.grpcMaxMessageBytes,
    logger,
    security: opts.security ?? serverSecurityFor(config.security),
    services: services.flatMap((s) => s.bindings),
  });
  const http = await startHttpEndpoints({
    host: config.grpcHost,
    port: config.metricsPort,
    metrics: deps.metrics,
    ready: () => !deps.bus.nc.isClosed(),
  });
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      logger.info("shutting down");
      await grpc.close(opts.graceMs ?? 10_000);
      for (const s of [...services].reverse()) await s.stop();
      await http.close();
      await deps.bus.close();
    })());
  for (const sig of opts.signals ?? (["SIGTERM", "SIGINT"] as NodeJS.Signals[])) {
    process.once(sig, () => void shutdown().then(() => process.exit(0)));
  }
  return { grpcPort: grpc.port, metricsPort: http.port, shutdown };
}
