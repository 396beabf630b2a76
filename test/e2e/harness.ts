// Test harness: real NATS (random port), the fs object store in a temp dir, and the given services
// on one gRPC port on loopback, wired as `mambalign up` wires them.
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import {
  callUnary,
  connectDeps,
  createClient,
  createLogger,
  freePort,
  loadConfig,
  Metrics,
  PipelineServiceClient,
  type Run,
  type ServiceDeps,
  type StartedService,
  startGrpcServer,
  type WatchRunResponse,
} from "@mambalign/core";
import { type EmbeddedSystem, startEmbedded } from "@mambalign/cli";
import { type NatsServerHandle, startNatsServer, testSecurityEnv, testServerSecurity, testTokenEntries } from "@mambalign/core/testing";

export interface Harness {
  deps: ServiceDeps;
  addr: string;
  tmp: string;
  objectsDir: string;
  stop(): Promise<void>;
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
      MAMBALIGN_DATA_ROOTS: tmp,
      MAMBALIGN_EXPORT_ROOTS: tmp,
      MAMBALIGN_GRPC_HOST: "127.0.0.1",
      MAMBALIGN_GRPC_PORT: String(port),
      ...Object.fromEntries(["DATASETS", "REGISTRY", "TRAINER", "EVALUATOR", "PIPELINE"].map((s) => [`MAMBALIGN_${s}_ADDR`, addr])),
      LOG_LEVEL: "silent",
      ...testSecurityEnv(),
    });
    const deps = await connectDeps(config, { logger: createLogger("test", "silent"), metrics: new Metrics({ defaultMetrics: false }) });
    const services = await start(deps);
    const grpc = await startGrpcServer({ host: "127.0.0.1", port, logger: deps.logger, services: services.flatMap((s) => s.bindings), security: testServerSecurity() });
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
/** Follows WatchRun from the start to the run's end; resolves with the run as last seen. */
export function watchRunToEnd(client: PipelineServiceClient, id: string): Promise<Run> {
  return new Promise<Run>((resolve, reject) => {
    let last: Run | undefined;
    const call = client.watchRun({ id, fromSeq: 0n });
    call.on("data", (r: WatchRunResponse) => (last = r.run ?? last));
    call.on("error", reject);
    call.on("end", () => (last ? resolve(last) : reject(new Error(`run ${id}: WatchRun ended without a run`))));
  });
}

export async function allKeys(deps: ServiceDeps): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of deps.store.list("")) keys.push(o.key);
  return keys;
}

/** The whole system as `mambalign up` / `demo` run it (all services in this process, NATS from the installed binary, fs store). */
export interface System {
  system: EmbeddedSystem;
  client: PipelineServiceClient;
  stateDir: string;
  startRun(recipeYaml: string, requestId: string): Promise<Run>;
  /** Follows WatchRun to its end; the run as it ended. */
  waitRun(id: string): Promise<Run>;
  stop(): Promise<void>;
}

/** `env` is added to process.env for the services' settings (e.g. the judge, the Hub endpoint). */
export async function startSystem(env: NodeJS.ProcessEnv = {}): Promise<System> {
  const stateDir = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-e2e-system-"));
  const system = await startEmbedded({
    stateDir,
    grpcPort: 0,
    metricsPort: 0,
    host: "127.0.0.1",
    logger: createLogger("test", process.env.LOG_LEVEL ?? "silent"),
    inspectBus: true,
    // The local token goes into the state directory, never the user's config directory.
    env: { ...process.env, XDG_CONFIG_HOME: path.join(stateDir, "config"), ...env },
    acceptTokens: testTokenEntries(),
  });
  const client = createClient(PipelineServiceClient, system.addr);
  return {
    system,
    client,
    stateDir,
    startRun: async (recipeYaml, requestId) => (await callUnary(client.startRun.bind(client), { recipeYaml, requestId })).run!,
    waitRun: (id) => watchRunToEnd(client, id),
    stop: async () => {
      client.close();
      await system.stop();
      await fsp.rm(stateDir, { recursive: true, force: true });
    },
  };
}
