// `mambalign up`: every service in this process on one gRPC port, over the embedded default
// (filesystem object store and a NATS server started here), state under one directory.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  anyOf,
  type Authenticator,
  authenticatorFor,
  Bus,
  type BusUser,
  type ClientSecurity,
  connectDeps,
  createLogger,
  freePort,
  generateBusCredentials,
  generateToken,
  hashToken,
  loadConfig,
  type Logger,
  Metrics,
  serveUntilSignal,
  type ServiceDeps,
  type NatsProcess,
  type StartedService,
  startNatsProcess,
  StaticTokenAuthenticator,
  type TokenEntry,
} from "@mambalign/core";
import { datasetsOptionsFromEnv, startDatasetsService } from "@mambalign/datasets";
import { loadEvaluatorOptions, startEvaluatorService } from "@mambalign/evaluator";
import { startDashboard, type StartedDashboard } from "@mambalign/dashboard";
import { startPipelineService } from "@mambalign/pipeline";
import { startRegistryService } from "@mambalign/registry";
import { loadTrainerOptions, startTrainerService } from "@mambalign/trainer";
import { ensureLocalToken } from "../local-token.js";
import { lockStateDir } from "./state-dir-lock.js";

/** services/cli/{src,dist}/embedded/ sits four levels below the repository root. */
export const REPO_ROOT = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../..");

export interface EmbeddedOptions {
  /** Holds objects/, nats/ and work/ (default ./.mambalign). */
  stateDir: string;
  /** gRPC port of all services; 0 picks a free one. */
  grpcPort: number;
  /** HTTP /metrics port; 0 picks a free one. */
  metricsPort: number;
  /** Interface to listen on (default loopback: plaintext is allowed there only; elsewhere TLS, MAMBALIGN_TLS_CERT/_KEY). */
  host: string;
  /** HTTP port of the dashboard; 0 or unset picks a free one. */
  dashboardPort?: number;
  /** Where service logs go (default: stderr at LOG_LEVEL). */
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Tests only: also connect `inspector`, a NATS user allowed every subject, to read and tamper with the bus. */
  inspectBus?: boolean;
  /** Further tokens the API accepts besides the local one (the test harness's). */
  acceptTokens?: TokenEntry[];
  /** The object store on this S3 endpoint (tests against MinIO) instead of files under the state directory. */
  s3?: { endPoint: string; bucket: string; accessKey: string; secretKey: string };
}

export interface EmbeddedSystem {
  /** host:port of the gRPC API. */
  addr: string;
  metricsPort: number;
  /** The dashboard's address (http://host:port/). */
  dashboardUrl: string;
  natsUrl: string;
  /** The pipeline's dependencies (each service has its own NATS connection and user). */
  deps: ServiceDeps;
  /** With `inspectBus`: a connection allowed every subject. */
  inspector?: Bus;
  /** The local admin token (from the user's config directory), for clients in this process. */
  clientSecurity: ClientSecurity;
  /** What the gRPC API accepts (the local token, the services', any configured), for other endpoints of `up` (HTTP pages). */
  authenticator: Authenticator;
  stop(): Promise<void>;
}

/** Where `up` writes the NATS users of this start (fresh passwords each start; mode 0600). */
export const NATS_AUTH_FILE = "nats-auth.conf";

/** MAMBALIGN_PYTHON, else the repository's .venv (what scripts/demo.sh installs), else python3. */
export function defaultPython(env: NodeJS.ProcessEnv): string {
  if (env.MAMBALIGN_PYTHON) return env.MAMBALIGN_PYTHON;
  const venv = path.join(REPO_ROOT, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

/**
 * The runtime's source directory on PYTHONPATH of this process, whose environment the trainer and
 * evaluator pass to `python -m mambalign_runtime`: a checkout then works even where the venv lacks
 * the editable install that scripts/setup.sh makes.
 */
function exposeRuntimeSources(): void {
  const dir = path.join(REPO_ROOT, "services", "runtime");
  const current = (process.env.PYTHONPATH ?? "").split(path.delimiter).filter(Boolean);
  if (existsSync(path.join(dir, "mambalign_runtime")) && !current.includes(dir)) {
    process.env.PYTHONPATH = [dir, ...current].join(path.delimiter);
  }
}

export async function startEmbedded(opts: EmbeddedOptions): Promise<EmbeddedSystem> {
  const env = opts.env ?? process.env;
  exposeRuntimeSources();
  const stateDir = path.resolve(opts.stateDir);
  await mkdir(stateDir, { recursive: true });
  const storeDir = path.join(stateDir, "nats");
  const lock = await lockStateDir(stateDir, storeDir);
  // Each service has its own NATS user, allowed only its subjects; no one connects anonymously.
  const credentials = generateBusCredentials();
  const inspector = opts.inspectBus ? { user: "inspector", password: randomBytes(24).toString("base64url") } : undefined;
  let nats: NatsProcess;
  try {
    nats = await startNatsProcess({
      port: await freePort(),
      storeDir,
      auth: { users: Object.values(credentials), configFile: path.join(stateDir, NATS_AUTH_FILE), ...(inspector ? { unrestricted: inspector } : {}) },
    });
  } catch (err) {
    await lock.release();
    throw err;
  }
  try {
    const grpcPort = opts.grpcPort || (await freePort());
    const metricsPort = opts.metricsPort || (await freePort());
    const addr = `${opts.host === "0.0.0.0" ? "127.0.0.1" : opts.host}:${grpcPort}`;
    // The user's token (kept in their config directory, made on first start) is admin; the services
    // call each other with a token of their own, an operator's, that lives only in this process.
    const localToken = ensureLocalToken(env);
    const servicesToken = generateToken();
    const tokens: TokenEntry[] = [
      { name: "local-admin", role: "admin", sha256: hashToken(localToken) },
      { name: "mambalign-up-services", role: "operator", sha256: hashToken(servicesToken) },
    ];
    const serviceEnv: NodeJS.ProcessEnv = {
      ...env,
      MAMBALIGN_TOKEN: servicesToken,
      MAMBALIGN_NATS_URL: nats.url,
      MAMBALIGN_STORE: "fs",
      MAMBALIGN_FS_ROOT: path.join(stateDir, "objects"),
      ...(opts.s3
        ? {
            MAMBALIGN_STORE: "s3",
            MAMBALIGN_S3_ENDPOINT: opts.s3.endPoint,
            MAMBALIGN_BUCKET: opts.s3.bucket,
            AWS_ACCESS_KEY_ID: opts.s3.accessKey,
            AWS_SECRET_ACCESS_KEY: opts.s3.secretKey,
          }
        : {}),
      MAMBALIGN_WORK_DIR: path.join(stateDir, "work"),
      MAMBALIGN_GRPC_HOST: opts.host,
      MAMBALIGN_GRPC_PORT: String(grpcPort),
      MAMBALIGN_METRICS_PORT: String(metricsPort),
      MAMBALIGN_PYTHON: defaultPython(env),
      // On one machine a user's own files are data: the directory `up` started in and the state dir
      // (the demo's data), unless set. A cluster sets none (docs/architecture.md).
      MAMBALIGN_DATA_ROOTS: env.MAMBALIGN_DATA_ROOTS ?? [process.cwd(), stateDir].join(path.delimiter),
      MAMBALIGN_EXPORT_ROOTS: env.MAMBALIGN_EXPORT_ROOTS ?? [process.cwd(), stateDir].join(path.delimiter),
      // Every service is in this process: they call each other on its own port.
      ...Object.fromEntries(["DATASETS", "REGISTRY", "TRAINER", "EVALUATOR", "PIPELINE"].map((s) => [`MAMBALIGN_${s}_ADDR`, addr])),
    };
    const config = loadConfig("mambalign", serviceEnv);
    const logger = opts.logger ?? createLogger("mambalign", config.logLevel);
    const deps = await connectDeps({ ...config, natsCredentials: credentials.pipeline }, { logger, metrics: new Metrics() });
    const services: StartedService[] = [];
    const buses: Bus[] = [];
    /** The shared dependencies with the service's own NATS connection. */
    const depsOf = async (user: BusUser): Promise<ServiceDeps> => {
      const bus = await Bus.connect({ servers: nats.url, name: user, logger, credentials: credentials[user] });
      buses.push(bus);
      return { ...deps, config: { ...deps.config, natsCredentials: credentials[user] }, bus };
    };
    let dashboard: StartedDashboard | undefined;
    try {
      // Each service's own settings come from the same environment as the config (not only process.env).
      services.push(await startDatasetsService(await depsOf("datasets"), datasetsOptionsFromEnv(serviceEnv)));
      services.push(await startRegistryService(await depsOf("registry")));
      services.push(await startTrainerService(await depsOf("trainer"), loadTrainerOptions(serviceEnv)));
      services.push(await startEvaluatorService(await depsOf("evaluator"), loadEvaluatorOptions(serviceEnv)));
      services.push(await startPipelineService(deps));
      if (inspector) buses.push(await Bus.connect({ servers: nats.url, name: "inspector", logger, credentials: inspector }));
      // No signal handlers here: `up` and `demo` decide what a signal means.
      const authenticator = anyOf([
        new StaticTokenAuthenticator(tokens, { via: "local" }),
        ...(opts.acceptTokens?.length ? [new StaticTokenAuthenticator(opts.acceptTokens)] : []),
        // A tokens file or an identity provider configured for `up` counts too.
        ...(config.security.tokens.length > 0 || config.security.oidc ? [authenticatorFor(config.security)] : []),
      ]);
      const security = { authenticator, tls: config.security.tls, allowPlaintext: config.security.allowPlaintext };
      // The dashboard signs users in with the API's own authenticator and reads the API on this process's port
      // as any client would, with each user's token (none of its own).
      const started = (dashboard = await startDashboard(
        { host: opts.host, port: opts.dashboardPort ?? 0, addrs: { pipeline: addr, registry: addr, evaluator: addr, trainer: addr } },
        { logger, metrics: deps.metrics, authenticator, clientSecurity: config.security.client, ...(config.security.tls ? { tls: config.security.tls } : {}), allowPlaintext: config.security.allowPlaintext },
      ));
      const served = await serveUntilSignal(deps, services, { signals: [], graceMs: 5_000, security });
      await lock.setAddr(addr);
      let stopping: Promise<void> | undefined;
      return {
        addr,
        metricsPort: served.metricsPort,
        dashboardUrl: started.url,
        natsUrl: nats.url,
        deps,
        ...(inspector ? { inspector: buses.at(-1)! } : {}),
        clientSecurity: { ...config.security.client, token: localToken },
        authenticator,
        stop: () =>
          (stopping ??= (async () => {
            await started.stop();
            await served.shutdown();
            for (const b of buses) await b.close();
            await nats.stop();
            await lock.release();
          })()),
      };
    } catch (err) {
      await dashboard?.stop().catch(() => undefined);
      for (const s of services.reverse()) await s.stop().catch(() => undefined);
      for (const b of [deps.bus, ...buses]) await b.close().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    await nats.stop();
    await lock.release();
    throw err;
  }
}
