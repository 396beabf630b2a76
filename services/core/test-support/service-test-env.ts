// A service's dependencies for its tests: ServiceDeps wired to a real NATS and a real MinIO (or the
// fs store), a scratch directory, and a gRPC server for the service's bindings.
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { loadConfig } from "../src/config.js";
import { startGrpcServer, type ServiceBinding } from "../src/grpc/index.js";
import { createLogger } from "../src/logging.js";
import { Metrics } from "../src/metrics.js";
import { connectDeps, type ServiceDeps } from "../src/service-deps.js";
import { type MinioServer, startMinioServer } from "./minio-server.js";
import { type NatsServerHandle, startNatsServer } from "./nats-server.js";
import { testServerEnv } from "./server-env.js";
import { testSecurityEnv, testServerSecurity } from "./auth.js";

export interface ServiceTestEnv {
  deps: ServiceDeps;
  /** A scratch directory for input files (removed by stop()); the data and export root of the service. */
  tmp: string;
  stop(): Promise<void>;
}

export async function startServiceTestEnv(service: string, store: "fs" | "s3"): Promise<ServiceTestEnv> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), `mambalign-${service}-test-`));
  let nats: NatsServerHandle | undefined;
  let minio: MinioServer | undefined;
  try {
    nats = await startNatsServer();
    // Input files live in tmp: the one directory the service may read from and export into.
    const env: NodeJS.ProcessEnv = { MAMBALIGN_NATS_URL: nats.url, LOG_LEVEL: "silent", MAMBALIGN_DATA_ROOTS: tmp, MAMBALIGN_EXPORT_ROOTS: tmp, ...testSecurityEnv() };
    if (store === "s3") {
      minio = await startMinioServer();
      Object.assign(env, testServerEnv(nats, minio));
    } else {
      Object.assign(env, { MAMBALIGN_STORE: "fs", MAMBALIGN_FS_ROOT: path.join(tmp, "objects") });
    }
    const config = loadConfig(service, env);
    const deps = await connectDeps(config, { logger: createLogger("test", "silent"), metrics: new Metrics({ defaultMetrics: false }) });
    return {
      deps,
      tmp,
      stop: async () => {
        await deps.bus.close();
        await nats?.stop();
        await minio?.stop();
        await fsp.rm(tmp, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await nats?.stop();
    await minio?.stop();
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** A gRPC server on a free loopback port for the given bindings, requiring TEST_TOKENS. */
export async function serveBindings(deps: ServiceDeps, bindings: ServiceBinding[]) {
  return startGrpcServer({ host: "127.0.0.1", port: 0, logger: deps.logger, services: bindings, security: testServerSecurity() });
}

/** Every object key under `prefix`. */
export async function listKeys(deps: ServiceDeps, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of deps.store.list(prefix)) keys.push(o.key);
  return keys;
}
