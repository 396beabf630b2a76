// Test harness: real NATS (random port), the fs object store in a temp dir, and the given services
// on one gRPC port on loopback, wired as `mambalign up` wires them.
import * as fsp from "node:fs/promises";
import { createServer } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import {
  connectDeps,
  createLogger,
  loadConfig,
  Metrics,
  type ServiceDeps,
  type StartedService,
  startGrpcServer,
} from "@mambalign/core";
import { type NatsServerHandle, startNatsServer } from "@mambalign/core/testing";

export interface Harness {
  deps: ServiceDeps;
  addr: string;
  tmp: string;
  objectsDir: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === "object" ? ok(a.port) : fail(new Error("no port"))));
    });
  });
}

export async function startHarness(start: (deps: ServiceDeps) => Promise<StartedService[]>): Promise<Harness> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-e2e-"));
  let nats: NatsServerHandle | undefined;
  try {
    nats = await startNatsServer();
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const objectsDir = path.join(tmp, "objects");
    const config = loadConfig("test", {
      MAMBALIGN_NATS_URL: nats.url,
      MAMBALIGN_STORE: "fs",
      MAMBALIGN_FS_ROOT: objectsDir,
      MAMBALIGN_WORK_DIR: path.join(tmp, "work"),
      MAMBALIGN_GRPC_HOST: "127.0.0.1",
      MAMBALIGN_GRPC_PORT: String(port),
      ...Object.fromEntries(["DATASETS", "REGISTRY", "TRAINER", "EVALUATOR", "PIPELINE"].map((s) => [`MAMBALIGN_${s}_ADDR`, addr])),
      LOG_LEVEL: "silent",
    });
    const deps = await connectDeps(config, { logger: createLogger("test", "silent"), metrics: new Metrics({ defaultMetrics: false }) });
    const services = await start(deps);
    const grpc = await startGrpcServer({ host: "127.0.0.1", port, logger: deps.logger, services: services.flatMap((s) => s.bindings) });
    const n = nats;
    return {
      deps,
      addr,
      tmp,
      objectsDir,
      stop: async () => {
        await grpc.close(1_000);
        for (const s of [...services].reverse()) await s.stop();
        await deps.bus.close();
        await n.stop();
        await fsp.rm(tmp, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await nats?.stop();
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Every object key in the store (empty when nothing was written). */
export async function allKeys(deps: ServiceDeps): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of deps.store.list("")) keys.push(o.key);
  return keys;
}
