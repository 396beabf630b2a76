// Test support: ServiceDeps wired to a real NATS and a real MinIO (or the fs store), and a
// gRPC server for the given bindings. Used by this package's tests only.
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { connectDeps, createLogger, loadConfig, Metrics, type ServiceBinding, type ServiceDeps, startGrpcServer } from "@mambalign/core";
import { type MinioServer, type NatsServerHandle, startMinioServer, startNatsServer, testServerEnv } from "@mambalign/core/testing";

export interface TestEnv {
  deps: ServiceDeps;
  /** A scratch directory for input files (removed by stop()). */
  tmp: string;
  stop(): Promise<void>;
}

export async function startTestEnv(store: "fs" | "s3"): Promise<TestEnv> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-registry-test-"));
  let nats: NatsServerHandle | undefined;
  let minio: MinioServer | undefined;
  try {
    nats = await startNatsServer();
    const env: NodeJS.ProcessEnv = { MAMBALIGN_NATS_URL: nats.url, LOG_LEVEL: "silent" };
    if (store === "s3") {
      minio = await startMinioServer();
      Object.assign(env, testServerEnv(nats, minio));
    } else {
      Object.assign(env, { MAMBALIGN_STORE: "fs", MAMBALIGN_FS_ROOT: path.join(tmp, "objects") });
    }
    const config = loadConfig("registry", env);
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
    throw err;
  }
}

export async function serveBindings(deps: ServiceDeps, bindings: ServiceBinding[]) {
  return startGrpcServer({ host: "127.0.0.1", port: 0, logger: deps.logger, services: bindings });
}

/** Every object key under `prefix`. */
export async function listKeys(deps: ServiceDeps, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of deps.store.list(prefix)) keys.push(o.key);
  return keys;
}
