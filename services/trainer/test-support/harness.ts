// Test harness: real NATS + MinIO, in-test peers over gRPC, the real Python runtime, and trainer processes.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  callUnary,
  connectDeps,
  createClient,
  createLogger,
  DatasetKind,
  DatasetServiceClient,
  type DatasetVersion,
  type GrpcServerHandle,
  RegistryServiceClient,
  startGrpcServer,
  JOB_SUBJECTS,
  loadConfig,
  type RunEvent,
  type RuntimeEvent,
  type ServiceDeps,
  Stage,
  StageJob,
  type TrainingArgs,
} from "@mambalign/core";
import { type MinioServer, type NatsServerHandle, REPO_ROOT, resolvedTrainingArgs, startMinioServer, startNatsServer, testSecurityEnv, testServerEnv, testServerSecurity } from "@mambalign/core/testing";
import { startDatasetsService } from "@mambalign/datasets";
import { startRegistryService } from "@mambalign/registry";

export { REPO_ROOT };
export const PYTHON = process.env.MAMBALIGN_PYTHON ?? path.join(REPO_ROOT, ".venv/bin/python");
const RUNTIME_DIR = path.join(REPO_ROOT, "services/runtime");

export interface Harness {
  nats: NatsServerHandle;
  minio: MinioServer;
  deps: ServiceDeps;
  /** The real datasets and registry services, in this process, on one gRPC port. */
  peers: { datasets: DatasetServiceClient; registry: RegistryServiceClient };
  workDir: string;
  /** The filesystem store's root when started with { store: "fs" }; "" with MinIO. */
  fsRoot: string;
  /** Environment of a trainer process pointed at these servers. */
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** `store: "fs"` puts every service on a filesystem store under the work dir instead of MinIO (still started). */
export async function startHarness(opts: { store?: "s3" | "fs" } = {}): Promise<Harness> {
  if (!existsSync(PYTHON)) throw new Error(`no Python at ${PYTHON}: set MAMBALIGN_PYTHON to the runtime's interpreter`);
  const nats = await startNatsServer();
  const minio = await startMinioServer();
  const workDir = await mkdtemp(path.join(tmpdir(), "mambalign-trainer-"));
  const fsRoot = opts.store === "fs" ? path.join(workDir, "objects") : "";
  const storeEnv = fsRoot ? { MAMBALIGN_NATS_URL: nats.url, MAMBALIGN_STORE: "fs", MAMBALIGN_FS_ROOT: fsRoot } : testServerEnv(nats, minio);
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...storeEnv,
    MAMBALIGN_GRPC_HOST: "127.0.0.1",
    MAMBALIGN_GRPC_PORT: "0",
    MAMBALIGN_METRICS_PORT: "0",
    MAMBALIGN_WORK_DIR: workDir,
    MAMBALIGN_DATA_ROOTS: workDir,
    MAMBALIGN_EXPORT_ROOTS: workDir,
    MAMBALIGN_PYTHON: PYTHON,
    PYTHONPATH: RUNTIME_DIR,
    LOG_LEVEL: "warn",
    MAMBALIGN_TRAINER_ACK_WAIT_S: "3",
    ...testSecurityEnv(),
    ...peerAddrs,
    ...extra,
  });
  let peerAddrs: Record<string, string> = {};
  const config = loadConfig("trainer-test", env());
  const deps = await connectDeps(config, { logger: createLogger("trainer-test", "warn") });
  const services = [await startDatasetsService(deps), await startRegistryService(deps)];
  const server: GrpcServerHandle = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    logger: deps.logger,
    services: services.flatMap((s) => s.bindings),
    security: testServerSecurity(),
  });
  const peersAddress = `127.0.0.1:${server.port}`;
  peerAddrs = { MAMBALIGN_DATASETS_ADDR: peersAddress, MAMBALIGN_REGISTRY_ADDR: peersAddress };
  const peers = {
    datasets: createClient(DatasetServiceClient, peersAddress),
    registry: createClient(RegistryServiceClient, peersAddress),
  };
  // The in-process trainer (loadTrainerOptions) and the runtime it launches read these too.
  process.env.PYTHONPATH = RUNTIME_DIR;
  return {
    nats,
    minio,
    deps,
    peers,
    workDir,
    fsRoot,
    env,
    async close() {
      peers.datasets.close();
      peers.registry.close();
      await server.close(1_000);
      for (const svc of services) await svc.stop();
      await deps.bus.close();
      await minio.stop();
      await nats.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** A tiny deterministic SFT task: reverse a word. */
export function reverseRows(n: number, offset = 0): object[] {
  const letters = "abcdefghij";
  return Array.from({ length: n }, (_, i) => {
    const word = Array.from({ length: 3 + ((i + offset) % 3) }, (_, j) => letters[(i * 7 + j * 3 + offset) % letters.length]).join("");
    return {
      messages: [
        { role: "user", content: `reverse ${word}` },
        { role: "assistant", content: [...word].reverse().join("") },
      ],
    };
  });
}

/** Prepares a small SFT dataset through the datasets service (train and test splits); returns its version. */
export async function addSftDataset(h: Harness): Promise<DatasetVersion> {
  const file = path.join(h.workDir, "reverse.jsonl");
  await writeFile(file, reverseRows(28).map((r) => JSON.stringify(r)).join("\n") + "\n");
  const res = await callUnary(h.peers.datasets.prepareDataset.bind(h.peers.datasets), {
    sources: [{ uri: file, fraction: 1 }],
    kind: DatasetKind.DATASET_KIND_SFT,
    testFraction: 0.2,
    seed: 1,
    name: "reverse",
    splits: [],
  });
  return res.dataset!;
}

/** What the registry holds for a run (through its gRPC API). */
export async function versionsOfRun(h: Harness, runId: string) {
  const res = await callUnary(h.peers.registry.listVersions.bind(h.peers.registry), { name: "" });
  return res.versions.filter((v) => v.runId === runId);
}

/** The recipe's resolved SFT arguments (the runtime fills no default) with short-run settings and `over` on top. */
export function sftArgs(over: Partial<TrainingArgs> = {}): Partial<TrainingArgs> {
  return resolvedTrainingArgs("sft", {
    maxSteps: 8,
    saveSteps: 4,
    perDeviceTrainBatchSize: 4,
    learningRate: 0.01,
    loggingSteps: 1,
    seed: 1,
    lora: { enabled: true, r: 4, alpha: 8, dropout: 0, targetModules: [], modulesToSave: [], loadIn4bit: false },
    ...over,
  });
}

/** An SFT job as the pipeline builds it: the dataset resolved (`trainData`) beside its id. */
export function sftJob(runId: string, trainData: DatasetVersion, args: Partial<TrainingArgs>): StageJob {
  return StageJob.fromPartial({
    jobId: `${runId}.sft.1`,
    runId,
    stage: Stage.STAGE_SFT,
    attempt: 1,
    baseModel: { uri: "preset:tiny-mamba-char" },
    trainDataset: trainData.id,
    trainData,
    recipe: { args },
    outputName: `${runId}-sft`,
  });
}

export async function publishTrain(h: Harness, job: StageJob): Promise<void> {
  await h.deps.bus.publishJob(job.stage === Stage.STAGE_MERGE ? JOB_SUBJECTS.merge : JOB_SUBJECTS.train, job);
}

/** Reads a run's events (replay, then live) until `until` returns true; returns all seen. */
export async function eventsUntil(h: Harness, runId: string, until: (e: RunEvent, all: RunEvent[]) => boolean, timeoutMs = 120_000): Promise<RunEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const all: RunEvent[] = [];
  try {
    for await (const { event } of h.deps.bus.watchEvents(runId, { signal: ac.signal })) {
      all.push(event);
      if (until(event, all)) return all;
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`run ${runId}: condition not met within ${timeoutMs} ms; saw ${all.length} events:\n${all.map(describe).join("\n")}`);
}

export function describe(e: RunEvent): string {
  const k = e.kind;
  if (k?.$case === "runtime") return `runtime ${k.value.kind?.$case} ${JSON.stringify(k.value.kind?.value)}`;
  if (k?.$case === "transition") return `transition ${JSON.stringify(k.value)}`;
  if (k?.$case === "log") return `log ${k.value.level} ${k.value.message}`;
  return "?";
}

/** The runtime events of one kind, in order. */
type RuntimeKind = NonNullable<RuntimeEvent["kind"]>;
type RuntimeValues = { [K in RuntimeKind["$case"]]: Extract<RuntimeKind, { $case: K }>["value"] };
export function runtimeOf<C extends keyof RuntimeValues>(events: RunEvent[], kind: C): RuntimeValues[C][] {
  const out: unknown[] = [];
  for (const e of events) {
    const k = e.kind?.$case === "runtime" ? e.kind.value.kind : undefined;
    if (k?.$case === kind) out.push(k.value);
  }
  return out as RuntimeValues[C][];
}

export function transitions(events: RunEvent[]) {
  return events.flatMap((e) => (e.kind?.$case === "transition" ? [e.kind.value] : []));
}

export function logs(events: RunEvent[]): string[] {
  return events.flatMap((e) => (e.kind?.$case === "log" ? [e.kind.value.message] : []));
}

export interface TrainerChild {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** `node --conditions=development --import tsx services/trainer/src/main.ts`, in its own process group. */
export function spawnTrainer(h: Harness, extra: Record<string, string> = {}): TrainerChild {
  const child = spawn(process.execPath, ["--conditions=development", "--import", "tsx", "services/trainer/src/main.ts"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...h.env(extra) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  const keep = (b: Buffer) => void (out = (out + b.toString()).slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output: () => out };
}

/** Steps of checkpoints under checkpoints/<run>/<stage>/ whose manifest exists, read straight from the store. */
export async function completeSteps(h: Harness, runId: string, stage: string): Promise<number[]> {
  const steps: number[] = [];
  for await (const o of h.deps.store.list(`checkpoints/${runId}/${stage}/`)) {
    const m = /\/(\d+)\/manifest\.json$/.exec(o.key);
    if (m) steps.push(Number(m[1]));
  }
  return steps.sort((a, b) => a - b);
}

/** SIGKILLs a trainer's process group (trainer and runtime), if it is still there. */
export function killGroup(t: TrainerChild): void {
  try {
    process.kill(-t.child.pid!, "SIGKILL");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** Resolves with `p`, or fails with the trainer's output as soon as the trainer exits (or `p` fails). */
export async function whileRunning<T>(t: TrainerChild, p: Promise<T>): Promise<T> {
  const exitedFirst = t.exited.then(({ code, signal }) => {
    throw new Error(`trainer exited (${signal ?? code}) before the condition was met; output:\n${t.output()}`);
  });
  exitedFirst.catch(() => undefined);
  try {
    return await Promise.race([p, exitedFirst]);
  } catch (err) {
    killGroup(t);
    if ((err as Error).message.includes("trainer exited")) throw err;
    throw new Error(`${(err as Error).message}\ntrainer output:\n${t.output()}`);
  }
}
