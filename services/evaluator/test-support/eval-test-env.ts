// Real NATS, MinIO, the registry service, the Python runtime and gRPC for evaluator tests; a tiny
// adapter trained for real and registered through RegistryService like the trainer does.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  type AdapterVersion,
  ArtifactKind,
  callUnary,
  connectDeps,
  createClient,
  createLogger,
  EvaluatorServiceClient,
  type GrpcServerHandle,
  loadConfig,
  RegistryServiceClient,
  type RunEvent,
  type ServiceDeps,
  sha256Hex,
  Stage,
  type StartedService,
  startGrpcServer,
  StageStatus,
  TrainingArgs,
  uploadDirWithManifest,
} from "@mambalign/core";
import { type MinioServer, type NatsServerHandle, REPO_ROOT, resolvedTrainingArgs, startMinioServer, startNatsServer, testSecurityEnv, testServerEnv, testServerSecurity } from "@mambalign/core/testing";
import { type StartEvaluatorOptions, startEvaluatorService } from "../src/index.js";
import { startRegistryService } from "@mambalign/registry";

const run = promisify(execFile);
export { REPO_ROOT };
export const PYTHON = process.env.MAMBALIGN_PYTHON || join(REPO_ROOT, ".venv/bin/python");
/** The runtime on CPU, one thread: tiny models on a shared 2-core machine run slower with more. */
export const RUNTIME_ENV = { PYTHONPATH: join(REPO_ROOT, "services/runtime"), OMP_NUM_THREADS: "1", LOG_LEVEL: "WARNING" };

export interface EvalTestEnv {
  deps: ServiceDeps;
  /** Client of the real registry service the evaluator talks to. */
  registry: InstanceType<typeof RegistryServiceClient>;
  evaluator: StartedService;
  grpc: GrpcServerHandle;
  client: InstanceType<typeof EvaluatorServiceClient>;
  tmp: string;
  /** Demo data files written by the runtime (`demo-data`). */
  demoDir: string;
  stop(): Promise<void>;
}

export async function startEvalTestEnv(opts: StartEvaluatorOptions = {}): Promise<EvalTestEnv> {
  const tmp = await mkdtemp(join(tmpdir(), "mambalign-evaluator-"));
  let nats: NatsServerHandle | undefined;
  let minio: MinioServer | undefined;
  try {
    [nats, minio] = await Promise.all([startNatsServer(), startMinioServer()]);
    const logger = createLogger("evaluator", "warn");
    const config = loadConfig("evaluator", {
      ...testServerEnv(nats, minio),
      MAMBALIGN_WORK_DIR: join(tmp, "work"),
      MAMBALIGN_PYTHON: PYTHON,
      MAMBALIGN_GRPC_HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      ...testSecurityEnv(),
    });
    const deps = await connectDeps(config, { logger });
    // The registry first: the evaluator dials it at the address in its config.
    const registryService = await startRegistryService(deps);
    const registryGrpc = await startGrpcServer({ host: "127.0.0.1", port: 0, logger, services: registryService.bindings, security: testServerSecurity() });
    deps.config.addrs.registry = `127.0.0.1:${registryGrpc.port}`;
    const registry = createClient(RegistryServiceClient, deps.config.addrs.registry);
    const evaluator = await startEvaluatorService(deps, { runtimeEnv: RUNTIME_ENV, ackWaitMs: 20_000, alpacaEvalLc: null, ...opts });
    const grpc = await startGrpcServer({ host: "127.0.0.1", port: 0, logger, services: evaluator.bindings, security: testServerSecurity() });
    const client = createClient(EvaluatorServiceClient, `127.0.0.1:${grpc.port}`);
    const demoDir = join(tmp, "demo");
    await run(PYTHON, ["-m", "mambalign_runtime", "demo-data", "--out", demoDir], { env: { ...process.env, ...RUNTIME_ENV } });
    const [n, m] = [nats, minio];
    return {
      deps,
      registry,
      evaluator,
      grpc,
      client,
      tmp,
      demoDir,
      async stop() {
        client.close();
        registry.close();
        await grpc.close(1_000);
        await evaluator.stop();
        await registryGrpc.close(1_000);
        await registryService.stop();
        await deps.bus.close();
        await Promise.all([n.stop(), m.stop()]);
        await rm(tmp, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all([nats?.stop(), minio?.stop()]);
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** The first `n` rows of a demo file, stored as a prepared dataset's test split; returns the dataset id. */
export async function storeHeldOut(env: EvalTestEnv, file: string, n: number): Promise<string> {
  const lines = (await readFile(join(env.demoDir, file), "utf8")).split("\n").filter(Boolean).slice(0, n);
  const body = lines.join("\n") + "\n";
  const id = sha256Hex(body);
  await env.deps.store.put(`datasets/${id}/test.jsonl`, body);
  return id;
}

/**
 * Trains a LoRA adapter for two steps with the runtime, uploads the checkpoint with its manifest
 * (as the trainer does) and registers it through RegistryService.RegisterVersion.
 */
export async function registerTinyAdapter(env: EvalTestEnv, name: string, runId: string): Promise<AdapterVersion> {
  const dir = join(env.tmp, `sft-${name}`);
  const trainFile = join(env.tmp, "sft-train.jsonl");
  const lines = (await readFile(join(env.demoDir, "sft_train.jsonl"), "utf8")).split("\n").filter(Boolean).slice(0, 16);
  await writeFile(trainFile, lines.join("\n") + "\n");
  const spec = join(env.tmp, `sft-${name}.json`);
  await writeFile(
    spec,
    JSON.stringify({
      command: "sft",
      model: "preset:tiny-mamba-char",
      outputDir: dir,
      train: { trainFile, args: TrainingArgs.toJSON(resolvedTrainingArgs("sft", { learningRate: 0.01, maxSteps: 2, perDeviceTrainBatchSize: 8, saveSteps: 1000, seed: 3, lora: { enabled: true, r: 4, alpha: 8, dropout: 0, targetModules: [], modulesToSave: [], loadIn4bit: false } })) },
    }),
  );
  await run(PYTHON, ["-m", "mambalign_runtime", "sft", "--spec", spec], { env: { ...process.env, ...RUNTIME_ENV } });
  // A checkpoint holds adapter/ next to optimizer and trainer state; the registry keeps that layout.
  const prefix = `checkpoints/${runId}/sft/2`;
  await uploadDirWithManifest(env.deps.store, prefix, join(dir, "checkpoints", "step-2"));
  const res = await callUnary(env.registry.registerVersion.bind(env.registry), {
    name,
    kind: ArtifactKind.ARTIFACT_KIND_ADAPTER,
    stage: Stage.STAGE_SFT,
    baseModel: { uri: "preset:tiny-mamba-char", revision: "", resolved: "" },
    parent: "",
    runId,
    sourceUri: env.deps.store.uri(prefix),
    metrics: {},
    datasets: [],
  });
  return res.version!;
}

/** The version as the registry serves it now. */
export async function getVersion(env: EvalTestEnv, id: string): Promise<AdapterVersion> {
  return (await callUnary(env.registry.getVersion.bind(env.registry), { id })).version!;
}

/** The job's events (from its run's stream) until its stage reaches SUCCEEDED or FAILED. */
export async function untilStageEnds(env: EvalTestEnv, jobId: string, timeoutMs = 150_000): Promise<RunEvent[]> {
  const runId = jobId.split(".")[0]!;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const seen: RunEvent[] = [];
  try {
    for await (const { event } of env.deps.bus.watchEvents(runId, { signal: ac.signal })) {
      if (event.jobId !== jobId) continue;
      seen.push(event);
      const k = event.kind;
      if (k?.$case === "transition" && (k.value.status === StageStatus.STAGE_STATUS_SUCCEEDED || k.value.status === StageStatus.STAGE_STATUS_FAILED)) {
        return seen;
      }
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  throw new Error(`job ${jobId}: no final transition within ${timeoutMs} ms; saw ${seen.length} event(s)`);
}

export function finalTransition(events: RunEvent[]) {
  const k = events.at(-1)?.kind;
  if (k?.$case !== "transition") throw new Error("last event is not a transition");
  return k.value;
}
