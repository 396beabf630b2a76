// The chart, the job launcher and the pool autoscaler on a real Kubernetes API server (etcd, kube-apiserver,
// controller-manager, scheduler) with kwok's fake nodes: two 8-GPU A100-80GB nodes and a CPU node.
// What cannot run here: containers (kwok moves pod phases; no image is pulled, so the services never answer
// and `helm test`'s pod cannot really run), Kueue's and JobSet's controllers (only their CRDs are installed).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import {
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  AppsV1Api,
  KubernetesObjectApi,
  type KubernetesObject,
  type V1Container,
  type V1Job,
} from "@kubernetes/client-node";
import { Metrics, createLogger } from "@mambalign/core";
import { JobLauncher } from "../../services/kube/src/job-launcher.js";
import { forNodes, isFinished, parseJobTemplate } from "../../services/kube/src/job-template.js";
import { PoolAutoscaler } from "../../services/kube/src/pool-autoscaler.js";
import { type KubeCluster, eventually, startKubeCluster } from "../../services/kube/test-support/kube-cluster.js";
import { CHART, REPO, helmBin, parseManifests } from "../helm/helm.js";

const execFileP = promisify(execFile);
const CRDS = path.join(REPO, "test/kube/crds");
const quiet = { logger: createLogger("test", "silent"), metrics: new Metrics({ defaultMetrics: false }) };
let cluster: KubeCluster;

before(async () => {
  cluster = await startKubeCluster();
  for (const f of ["kueue.x-k8s.io_resourceflavors.yaml", "kueue.x-k8s.io_clusterqueues.yaml", "kueue.x-k8s.io_localqueues.yaml", "jobset.x-k8s.io_jobsets.yaml"]) {
    await cluster.apply(await readFile(path.join(CRDS, f), "utf8"));
  }
  // A new CRD's storage answers 429 "(re)initializing" for a moment after it is Established.
  const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig());
  for (const [apiVersion, kind] of [["kueue.x-k8s.io/v1beta2", "LocalQueue"], ["jobset.x-k8s.io/v1alpha2", "JobSet"]] as const) {
    await eventually(`${kind} served`, async () => Boolean(await api.list(apiVersion, kind, "default")));
  }
});
after(() => cluster?.stop());

async function helmKube(args: string[]): Promise<string> {
  try {
    return (await execFileP(helmBin(), [...args, "--kubeconfig", cluster.kubeconfigPath], { cwd: REPO, maxBuffer: 64 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args.slice(0, 2).join(" ")} failed: ${e.stderr || e.message}`);
  }
}

async function install(namespace: string, set: Record<string, string | number | boolean>): Promise<KubernetesObject[]> {
  // The shared model cache (modelCache, a ReadWriteMany claim): the test cluster has no provisioner, so an
  // operator's statically provisioned volume (NFS here, never mounted: kwok runs no containers) is bound to it.
  await cluster.kubeConfig().makeApiClient(CoreV1Api).createPersistentVolume({
    body: {
      metadata: { name: `model-cache-${namespace}` },
      spec: {
        capacity: { storage: "200Gi" },
        accessModes: ["ReadWriteMany"],
        nfs: { server: "nfs.example.internal", path: `/hf-cache/${namespace}` },
        claimRef: { namespace, name: "r1-mambalign-model-cache" },
      },
    },
  });
  const args = ["install", "r1", CHART, "--namespace", namespace, "--create-namespace"];
  for (const [k, v] of Object.entries(set)) args.push("--set", `${k}=${v}`);
  await helmKube(args);
  return parseManifests(await helmKube(["get", "manifest", "r1", "--namespace", namespace]));
}

async function assertAllOnServer(objects: KubernetesObject[], namespace: string): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig());
  assert.ok(objects.length > 10, `expected the chart's objects, got ${objects.length}`);
  for (const o of objects) {
    const got = await api.read({ apiVersion: o.apiVersion!, kind: o.kind!, metadata: { name: o.metadata!.name!, namespace } });
    assert.equal(got.metadata?.name, o.metadata!.name);
  }
}

const env = (c: V1Container, name: string) => c.env?.find((e) => e.name === name)?.value;
const sa = (ns: string, name: string) => `system:serviceaccount:${ns}:r1-mambalign-${name}`;

async function jobTemplateOf(namespace: string) {
  const cm = await cluster.kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: "r1-mambalign-trainer-job-template", namespace });
  return parseJobTemplate(cm.data!["job-template.json"]!, "installed job template");
}

test("helm install on a real API server — job mode, 8 GPUs per stage: every object accepted; the launcher, as its own ServiceAccount, runs two stages' Jobs to completion on the GPU nodes, each pod with 8 GPUs and 8 training processes", { timeout: 240_000 }, async () => {
  const ns = "job-mode";
  await assertAllOnServer(await install(ns, { "trainer.gpu.count": 8 }), ns);
  const template = await jobTemplateOf(ns);
  const batch = cluster.kubeConfig().makeApiClient(BatchV1Api);
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const trainerPods = { namespace: ns, labelSelector: "app.kubernetes.io/component=trainer-job" };
  // 2 stages, one Job at a time. A stage leaves the queue when its trainer acks it, before its pod ends:
  // here, when kwok ends the pod (the Job controller marks the Job Complete after that).
  const acked = async () => (await core.listNamespacedPod(trainerPods)).items.filter((p) => p.status?.phase === "Succeeded").length;
  const completed = async () =>
    (await batch.listNamespacedJob({ namespace: ns, labelSelector: template.selector })).items.filter((j) => isFinished({ ...j, kind: "Job" })).length;
  const launcher = new JobLauncher({
    kubeConfig: cluster.kubeConfigAs(sa(ns, "launcher")),
    namespace: ns,
    template,
    maxConcurrent: 1,
    outstanding: async () => 2 - (await acked()),
    intervalMs: 3_600_000, // only the watch can start the second Job
    ...quiet,
  });
  await launcher.start();
  try {
    await eventually("two Complete Jobs", async () => (await completed()) === 2, 120_000);
  } finally {
    await launcher.stop();
  }
  assert.deepEqual((await launcher.reconcile()).created, [], "nothing left to launch");
  const jobs = (await batch.listNamespacedJob({ namespace: ns, labelSelector: template.selector })).items;
  assert.equal(jobs.length, 2);
  for (const j of jobs) assert.ok(isFinished({ ...j, kind: "Job" }), `${j.metadata!.name} finished`);
  const pods = (await core.listNamespacedPod(trainerPods)).items;
  const summary = pods.map((p) => `${p.metadata!.name} ${p.status!.phase} on ${p.spec!.nodeName} (${p.status!.reason ?? ""} ${p.status!.message ?? ""})`);
  assert.equal(pods.length, 2, summary.join("; "));
  for (const p of pods) {
    assert.match(p.spec!.nodeName ?? "", /^gpu-[ab]$/, "scheduled on an 8-GPU A100 node");
    assert.equal(p.status!.phase, "Succeeded");
    const c = p.spec!.containers[0]!;
    assert.equal(c.resources!.limits!["nvidia.com/gpu"], "8");
    assert.equal(env(c, "MAMBALIGN_TRAINER_GPUS"), "8", "the trainer runs the runtime with --nproc 8");
    assert.ok(p.spec!.volumes!.some((v) => v.persistentVolumeClaim?.claimName === "r1-mambalign-model-cache"), "the shared model cache is mounted");
  }
});

test("helm install on a real API server — pool mode: every object accepted; the autoscaler, as its own ServiceAccount, scales the trainer Deployment with the queue and to zero when idle", { timeout: 180_000 }, async () => {
  const ns = "pool-mode";
  await assertAllOnServer(await install(ns, { "trainer.mode": "pool", "trainer.gpu.count": 4 }), ns);
  const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
  const trainer = await apps.readNamespacedDeployment({ name: "r1-mambalign-trainer", namespace: ns });
  assert.equal(trainer.spec!.replicas, 0, "no idle GPU after install");
  assert.equal(env(trainer.spec!.template.spec!.containers[0]!, "MAMBALIGN_TRAINER_GPUS"), "4");
  let outstanding = 3;
  let now = 1_000_000;
  const scaler = new PoolAutoscaler({
    kubeConfig: cluster.kubeConfigAs(sa(ns, "autoscaler")),
    namespace: ns,
    deployment: "r1-mambalign-trainer",
    bounds: { min: 0, max: 4, scaleDownStabilisationMs: 300_000, cooldownMs: 60_000 },
    outstanding: async () => outstanding,
    intervalMs: 3_600_000,
    now: () => now,
    ...quiet,
  });
  assert.equal((await scaler.tick()).replicas, 3);
  const ready = (n: number) => async () => {
    const d = await apps.readNamespacedDeployment({ name: "r1-mambalign-trainer", namespace: ns });
    return (d.status?.readyReplicas ?? 0) === n && (d.status?.replicas ?? 0) === n;
  };
  await eventually("3 trainer pods Ready (kwok)", ready(3));
  outstanding = 0;
  now += 120_000;
  assert.equal((await scaler.tick()).reason, "stabilising", "a short dip keeps the workers");
  now += 301_000;
  assert.equal((await scaler.tick()).replicas, 0);
  await eventually("no trainer pods", async () => {
    const pods = await cluster.kubeConfig().makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns, labelSelector: "app.kubernetes.io/component=trainer" });
    return pods.items.length === 0;
  });
});

test("helm install on a real API server — Kueue queue label (Kueue's CRDs and the repo's k8s/kueue queues installed): the launcher's Jobs are created suspended with the queue label; Kueue's controller does not run here, so none is admitted", { timeout: 120_000 }, async () => {
  // The README's Kueue example, as written: the repo's k8s/kueue objects, then the chart with that queue.
  const ns = "mambalign";
  await KubernetesObjectApi.makeApiClient(cluster.kubeConfig()).create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  for (const f of ["resource-flavors.yaml", "cluster-queue.yaml", "local-queue.yaml"]) {
    await cluster.apply(await readFile(path.join(REPO, "k8s/kueue", f), "utf8"));
  }
  await assertAllOnServer(await install(ns, { "trainer.gpu.preset": "none", "trainer.job.kueue.queueName": "mambalign-gpu", "trainer.gpu.count": 8 }), ns);
  const template = await jobTemplateOf(ns);
  const launcher = new JobLauncher({ kubeConfig: cluster.kubeConfigAs(sa(ns, "launcher")), namespace: ns, template, maxConcurrent: 4, outstanding: async () => 2, intervalMs: 3_600_000, ...quiet });
  assert.equal((await launcher.reconcile()).created.length, 2);
  const jobs = (await cluster.kubeConfig().makeApiClient(BatchV1Api).listNamespacedJob({ namespace: ns, labelSelector: template.selector })).items;
  for (const j of jobs) {
    assert.equal(j.spec!.suspend, true);
    assert.equal(j.metadata!.labels!["kueue.x-k8s.io/queue-name"], "mambalign-gpu");
  }
  assert.deepEqual((await launcher.reconcile()).created, [], "suspended Jobs count as unfinished: no duplicates");
});

test("helm install on a real API server — external NATS and S3 with chart-managed Secrets: every object accepted", { timeout: 120_000 }, async () => {
  const ns = "external";
  const objects = await install(ns, {
    "nats.bundled": false,
    "nats.external.url": "nats://nats.infra.svc:4222",
    "nats.auth.existingSecret": "nats-users",
    "minio.bundled": false,
    "s3.external.endpoint": "https://s3.eu-west-1.amazonaws.com",
    "s3.auth.existingSecret": "",
    "s3.auth.accessKeyId": "AKIAEXAMPLE",
    "s3.auth.secretAccessKey": "not-a-real-secret",
  });
  await assertAllOnServer(objects, ns);
  assert.equal(objects.filter((o) => o.kind === "StatefulSet").length, 0, "no bundled NATS/MinIO");
});

test("helm test hooks — the health-check pod is accepted by the server (server-side dry run); it cannot run here: kwok runs no containers and the services' images are not started", { timeout: 60_000 }, async () => {
  const hooks = parseManifests(await helmKube(["get", "hooks", "r1", "--namespace", "job-mode"]));
  const tests = hooks.filter((h) => h.metadata.annotations?.["helm.sh/hook"] === "test");
  assert.equal(tests.length, 1);
  const pod = tests[0]!;
  const urls = pod.spec.containers[0].command.slice(4);
  assert.deepEqual(urls, [
    "http://r1-mambalign-pipeline:9464/readyz",
    "http://r1-mambalign-datasets:9464/readyz",
    "http://r1-mambalign-registry:9464/readyz",
    "http://r1-mambalign-evaluator:9464/readyz",
    "http://r1-mambalign-minio:9000/minio/health/ready",
  ]);
  const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig());
  const accepted = await api.create({ ...pod, metadata: { ...pod.metadata, namespace: "job-mode" } }, undefined, "All");
  assert.equal(accepted.metadata?.name, "r1-mambalign-health-test");
});

test("RBAC least privilege on the real server — the launcher may create and watch Jobs only; the autoscaler may patch only the trainer's scale; the trainer may do nothing", { timeout: 60_000 }, async () => {
  const authz = cluster.kubeConfig().makeApiClient(AuthorizationV1Api);
  const can = async (user: string, ns: string, verb: string, resource: string, opts: { group?: string; name?: string; subresource?: string } = {}) => {
    const review = await authz.createSubjectAccessReview({
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user,
          groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
          resourceAttributes: { namespace: ns, verb, resource, group: opts.group ?? "", name: opts.name, subresource: opts.subresource },
        },
      },
    });
    return review.status!.allowed;
  };
  const launcher = sa("job-mode", "launcher");
  for (const verb of ["create", "get", "list", "watch"]) assert.equal(await can(launcher, "job-mode", verb, "jobs", { group: "batch" }), true, `launcher ${verb} jobs`);
  for (const [verb, resource, group] of [["delete", "jobs", "batch"], ["patch", "jobs", "batch"], ["create", "pods", ""], ["get", "secrets", ""], ["create", "jobsets", "jobset.x-k8s.io"], ["create", "deployments", "apps"]] as const) {
    assert.equal(await can(launcher, "job-mode", verb, resource, { group }), false, `launcher must not ${verb} ${resource}`);
  }
  assert.equal(await can(launcher, "pool-mode", "create", "jobs", { group: "batch" }), false, "no rights outside its namespace");

  const scaler = sa("pool-mode", "autoscaler");
  for (const verb of ["get", "patch"]) {
    assert.equal(await can(scaler, "pool-mode", verb, "deployments", { group: "apps", name: "r1-mambalign-trainer", subresource: "scale" }), true, `autoscaler ${verb} scale`);
  }
  assert.equal(await can(scaler, "pool-mode", "patch", "deployments", { group: "apps", name: "r1-mambalign-pipeline", subresource: "scale" }), false, "only the trainer's scale");
  assert.equal(await can(scaler, "pool-mode", "patch", "deployments", { group: "apps", name: "r1-mambalign-trainer" }), false, "not the Deployment itself");
  assert.equal(await can(scaler, "pool-mode", "list", "pods"), false);
  assert.equal(await can(scaler, "pool-mode", "get", "secrets"), false);

  for (const ns of ["job-mode", "pool-mode"]) {
    const trainer = sa(ns, "trainer");
    for (const [verb, resource, group] of [["create", "jobs", "batch"], ["get", "configmaps", ""], ["list", "pods", ""], ["get", "secrets", ""]] as const) {
      assert.equal(await can(trainer, ns, verb, resource, { group }), false, `trainer must not ${verb} ${resource}`);
    }
  }

  // And a real request, impersonating the launcher: deleting a Job is refused by the server.
  const asLauncher = cluster.kubeConfigAs(launcher).makeApiClient(BatchV1Api);
  const [job] = (await asLauncher.listNamespacedJob({ namespace: "job-mode" })).items as [V1Job];
  await assert.rejects(asLauncher.deleteNamespacedJob({ name: job.metadata!.name!, namespace: "job-mode" }), (err: { code?: number }) => err.code === 403);
});

test("stages larger than one node — trainer.gpu.nodes=2: the launcher, as its own ServiceAccount, creates a JobSet of 2 indexed pods with torchrun's rendezvous environment, accepted by the server (JobSet CRD); JobSet's controller does not run here, so no pods start", { timeout: 120_000 }, async () => {
  const ns = "multi-node";
  await assertAllOnServer(await install(ns, { "trainer.gpu.count": 8, "trainer.gpu.nodes": 2 }), ns);
  const deployment = await cluster.kubeConfig().makeApiClient(AppsV1Api).readNamespacedDeployment({ name: "r1-mambalign-launcher", namespace: ns });
  const nodes = Number(env(deployment.spec!.template.spec!.containers[0]!, "MAMBALIGN_LAUNCHER_NODES"));
  assert.equal(nodes, 2);
  const template = forNodes(await jobTemplateOf(ns), nodes); // as the launcher program does (program.ts)
  const launcher = new JobLauncher({ kubeConfig: cluster.kubeConfigAs(sa(ns, "launcher")), namespace: ns, template, maxConcurrent: 1, outstanding: async () => 1, intervalMs: 3_600_000, ...quiet });
  const [name] = (await launcher.reconcile()).created as [string];
  const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig());
  const js = (await api.read({ apiVersion: "jobset.x-k8s.io/v1alpha2", kind: "JobSet", metadata: { name, namespace: ns } })) as any;
  const rjob = js.spec.replicatedJobs[0];
  assert.deepEqual([rjob.replicas, rjob.template.spec.parallelism, rjob.template.spec.completions, rjob.template.spec.completionMode], [1, 2, 2, "Indexed"]);
  assert.equal(js.spec.network.enableDNSHostnames, true);
  assert.deepEqual(rjob.template.spec.successPolicy, { rules: [{ succeededIndexes: "0" }] }, "done when node 0 is");
  const c = rjob.template.spec.template.spec.containers[0] as V1Container;
  const byName = Object.fromEntries(c.env!.map((e) => [e.name, e]));
  assert.equal(byName.PET_NNODES!.value, "2");
  assert.equal(byName.PET_NPROC_PER_NODE!.value, "8");
  assert.equal(byName.MAMBALIGN_TRAINER_GPUS!.value, "8", "8 training processes per node");
  assert.equal(byName.PET_NODE_RANK!.valueFrom!.fieldRef!.fieldPath, "metadata.annotations['batch.kubernetes.io/job-completion-index']");
  assert.equal(byName.JOBSET_NAME!.valueFrom!.fieldRef!.fieldPath, "metadata.labels['jobset.sigs.k8s.io/jobset-name']");
  assert.equal(byName.PET_MASTER_ADDR!.value, "$(JOBSET_NAME)-node-0-0.$(JOBSET_NAME)", "pod 0 through the JobSet's headless service");
  assert.equal(c.resources!.limits!["nvidia.com/gpu"], "8");
  assert.deepEqual((await launcher.reconcile()).created, [], "an unfinished JobSet counts against the queue");
  // Its Role grants JobSets instead of Jobs.
  const batchAsLauncher = cluster.kubeConfigAs(sa(ns, "launcher")).makeApiClient(BatchV1Api);
  await assert.rejects(batchAsLauncher.listNamespacedJob({ namespace: ns }), (err: { code?: number }) => err.code === 403);
});
