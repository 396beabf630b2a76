// A real Kubernetes control plane for tests: etcd, kube-apiserver (RBAC, token auth, service-account keys),
// kube-controller-manager, kube-scheduler and kwok (fake nodes whose pods it moves through their phases),
// on random loopback ports with a throwaway directory. Binaries: `bash scripts/kube.sh install`.
// Start it once per test file (about 10-20 s on 2 cores); it cannot run containers, so pods never really run.
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { accessSync, appendFileSync, closeSync, constants, openSync, rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, Health, KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject, type V1Node, loadAllYaml } from "@kubernetes/client-node";
import { freePort } from "@mambalign/core";
import { REPO_ROOT } from "@mambalign/core/testing";

const INSTALL_HINT = "build them with `bash scripts/kube.sh install`";
const BINARIES = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"] as const;
type Binary = (typeof BINARIES)[number];

/** Polls `probe` until it gives a value other than undefined/false (the cluster's controllers work asynchronously). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200); // poll interval
  }
}

/** A fake node kwok keeps Ready. */
export interface FakeNode {
  name: string;
  labels?: Record<string, string>;
  gpus?: number;
  taints?: { key: string; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }[];
}

/** Two 8-GPU A100-80GB nodes (tainted like the GPU operator's) and one CPU node. */
export const DEFAULT_FAKE_NODES: FakeNode[] = [
  ...["gpu-a", "gpu-b"].map((name) => ({
    name,
    gpus: 8,
    labels: { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8" },
    taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" as const }],
  })),
  { name: "cpu-a" },
];

export interface KubeCluster {
  /** https://127.0.0.1:<port> */
  server: string;
  /** A kubeconfig file (cluster-admin token) for helm and other clients. */
  kubeconfigPath: string;
  /** A client config for the same admin user. */
  kubeConfig(): KubeConfig;
  /** A client config that impersonates `user` (e.g. system:serviceaccount:ns:name), as `--as` does. */
  kubeConfigAs(user: string): KubeConfig;
  /** Creates a namespace and waits for its "default" ServiceAccount (pods are refused before it exists). */
  createNamespace(name: string): Promise<void>;
  /** Creates (server-side applies) every object of a multi-document YAML text. */
  apply(yamlText: string): Promise<void>;
  /** Stops every process and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartKubeClusterOptions {
  nodes?: FakeNode[];
  /** How long to wait for each component (default 120 s: a loaded 2-core machine is slow). */
  readyTimeoutMs?: number;
}

/** $KUBE_BIN_DIR, else <repo>/.cache/bin, else PATH. */
export function findKubeBinary(name: Binary, env: NodeJS.ProcessEnv = process.env): string {
  const dirs = [env.KUBE_BIN_DIR, join(REPO_ROOT, ".cache", "bin"), ...(env.PATH ?? "").split(delimiter)].filter(Boolean) as string[];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next
    }
  }
  throw new Error(`${name} not found (KUBE_BIN_DIR, ${join(REPO_ROOT, ".cache", "bin")}, PATH); ${INSTALL_HINT}`);
}

/** kwok's fast node/pod stages, written next to the kwok binary by scripts/kube.sh. */
export function findKwokStages(): string {
  const path = join(findKubeBinary("kwok", process.env), "..", "kwok-stages.yaml");
  try {
    accessSync(path, constants.R_OK);
    return path;
  } catch {
    throw new Error(`${path} missing; ${INSTALL_HINT}`);
  }
}

interface Proc {
  name: string;
  child: ChildProcess;
  logPath: string;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => child.once("exit", () => ok()));
}

async function logTail(p: Proc): Promise<string> {
  const text = await readFile(p.logPath, "utf8").catch(() => "");
  return text.slice(-3000);
}

/** Polls `probe` until it returns true; fails naming the component, with its log, if it exits or times out. */
async function waitFor(what: string, p: Proc | undefined, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    if (p && (p.child.exitCode !== null || p.child.signalCode !== null)) {
      throw new Error(`${p.name} exited while waiting for ${what}: ${await logTail(p)}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${p ? `: ${await logTail(p)}` : ""}`);
    await sleep(delay);
  }
}

function kubeConfigFor(server: string, token: string, impersonate?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "test", server, skipTLSVerify: true }],
    users: [{ name: "admin", token, ...(impersonate ? { impersonateUser: impersonate } : {}) }],
    contexts: [{ name: "test", cluster: "test", user: "admin" }],
    currentContext: "test",
  });
  return kc;
}

function nodeObject(n: FakeNode): V1Node {
  const resources: Record<string, string> = { cpu: "64", memory: "512Gi", pods: "110", "ephemeral-storage": "2Ti" };
  if (n.gpus) resources["nvidia.com/gpu"] = String(n.gpus);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: n.name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: { "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", type: "kwok", ...n.labels },
    },
    spec: { taints: n.taints ?? [] },
    status: { capacity: resources, allocatable: resources },
  };
}

export async function startKubeCluster(opts: StartKubeClusterOptions = {}): Promise<KubeCluster> {
  const bins = Object.fromEntries(BINARIES.map((b) => [b, findKubeBinary(b)])) as Record<Binary, string>;
  const stages = findKwokStages();
  const timeoutMs = opts.readyTimeoutMs ?? 120_000;
  const dir = await mkdtemp(join(tmpdir(), "mambalign-kube-"));
  const procs: Proc[] = [];
  // A test process that dies without stop() must not leave a control plane running.
  const killAll = () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", killAll);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.off("exit", killAll);
      // Reverse start order: clients first, etcd last.
      for (const p of [...procs].reverse()) {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
        const done = exited(p.child);
        const killTimer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
        await done;
        clearTimeout(killTimer);
      }
      await rm(dir, { recursive: true, force: true });
    })());

  const start = (name: Binary, args: string[]): Proc => {
    const logPath = join(dir, `${name}.log`);
    // Straight to a file, not through pipes: a test blocked in a synchronous helm call must not stall them.
    const fd = openSync(logPath, "a");
    try {
      const child = spawn(bins[name], args, { stdio: ["ignore", fd, fd] });
      child.once("error", (err) => appendFileSync(logPath, `spawn error: ${err.message}\n`));
      const p = { name, child, logPath };
      procs.push(p);
      return p;
    } finally {
      closeSync(fd);
    }
  };

  try {
    // etcd: a single member on loopback; no fsync (the data is thrown away).
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = start("etcd", [
      "--name=test", `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=test=${peerUrl}`,
      "--unsafe-no-fsync", "--log-level=warn",
    ]);
    await waitFor("etcd /health", etcd, timeoutMs, async () => ((await (await fetch(`${etcdUrl}/health`)).json()) as { health?: string }).health === "true");

    // Credentials: a static admin token (system:masters) and a service-account signing key pair.
    const token = randomBytes(24).toString("hex");
    await writeFile(join(dir, "tokens.csv"), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    const keys = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
    });
    await writeFile(join(dir, "sa.pub"), keys.publicKey);
    await writeFile(join(dir, "sa.key"), keys.privateKey, { mode: 0o600 });

    const server = `https://127.0.0.1:${apiPort}`;
    const api = start("kube-apiserver", [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, "pki")}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${join(dir, "sa.pub")}`, `--service-account-signing-key-file=${join(dir, "sa.key")}`,
      `--token-auth-file=${join(dir, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      "--service-cluster-ip-range=10.96.0.0/16",
      "--enable-priority-and-fairness=false", "--profiling=false",
    ]);
    const kc = kubeConfigFor(server, token);
    const core = kc.makeApiClient(CoreV1Api);
    // readyz includes the RBAC bootstrap roles, so impersonated checks are meaningful from here on.
    const health = new Health(kc);
    await waitFor("kube-apiserver /readyz", api, timeoutMs, () => health.readyz({ timeout: 5000 }));

    const kubeconfigPath = join(dir, "kubeconfig");
    await writeFile(kubeconfigPath, kc.exportConfig(), { mode: 0o600 });

    const cm = start("kube-controller-manager", [
      `--kubeconfig=${kubeconfigPath}`, "--leader-elect=false", "--secure-port=0",
      `--service-account-private-key-file=${join(dir, "sa.key")}`,
      `--root-ca-file=${join(dir, "pki", "apiserver.crt")}`,
      "--concurrent-job-syncs=5", "--profiling=false",
    ]);
    const scheduler = start("kube-scheduler", [`--kubeconfig=${kubeconfigPath}`, "--leader-elect=false", "--secure-port=0", "--profiling=false"]);
    const kwok = start("kwok", [
      `--kubeconfig=${kubeconfigPath}`, `--config=${stages}`,
      "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      "--node-ip=10.0.0.1", "--cidr=10.0.0.1/24", `--server-address=127.0.0.1:${await freePort()}`,
    ]);

    const fakeNodes = opts.nodes ?? DEFAULT_FAKE_NODES;
    for (const n of fakeNodes) await core.createNode({ body: nodeObject(n) });
    // The controller-manager creates every namespace's "default" ServiceAccount; pods are refused until it exists.
    await waitFor("the default ServiceAccount (kube-controller-manager)", cm, timeoutMs, async () => {
      await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
      return true;
    });
    await waitFor("fake nodes Ready (kwok)", kwok, timeoutMs, async () => {
      const nodes = (await core.listNode()).items;
      return nodes.length === fakeNodes.length && nodes.every((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    });
    void scheduler; // watched by stop(); a scheduling failure shows as a Pending pod in the tests

    const objects = KubernetesObjectApi.makeApiClient(kc);
    return {
      server,
      kubeconfigPath,
      kubeConfig: () => kubeConfigFor(server, token),
      kubeConfigAs: (user) => kubeConfigFor(server, token, user),
      async createNamespace(name) {
        await core.createNamespace({ body: { metadata: { name } } });
        await waitFor(`the default ServiceAccount of ${name}`, cm, timeoutMs, async () => {
          await core.readNamespacedServiceAccount({ name: "default", namespace: name });
          return true;
        });
      },
      async apply(yamlText) {
        for (const obj of loadAllYaml(yamlText) as KubernetesObject[]) {
          if (!obj) continue;
          await objects.patch(obj, undefined, undefined, "mambalign-tests", true, PatchStrategy.ServerSideApply);
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
