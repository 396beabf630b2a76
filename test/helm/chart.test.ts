import { test } from "node:test";
import assert from "node:assert/strict";
import { CHART, helm, render, type Manifest } from "./helm.js";
import { validateManifest } from "./k8s-schema.js";
import { parseJobTemplate } from "../../services/kube/src/job-template.js";

// The value combinations users deploy; each must render, lint strictly and validate.
const COMBOS: Record<string, Record<string, string | number | boolean>> = {
  "job mode, bundled infra, A100 (defaults)": {},
  "pool mode, built-in autoscaler": { "trainer.mode": "pool" },
  "pool mode, KEDA": { "trainer.mode": "pool", "keda.enabled": true },
  "external NATS and S3": {
    "nats.bundled": false,
    "nats.external.url": "nats://nats.infra.svc:4222",
    "nats.auth.existingSecret": "nats-users",
    "minio.bundled": false,
    "s3.external.endpoint": "https://s3.eu-west-1.amazonaws.com",
  },
  "H100, 8 GPUs per stage, Kueue": { "trainer.gpu.preset": "h100", "trainer.gpu.count": 8, "trainer.job.kueue.queueName": "gpu-h100" },
  "pool mode, KEDA, external NATS": {
    "trainer.mode": "pool",
    "keda.enabled": true,
    "nats.bundled": false,
    "nats.external.url": "nats://nats.infra.svc:4222",
    "nats.external.monitoringEndpoint": "nats.infra.svc:8222",
    "nats.auth.existingSecret": "nats-users",
  },
  "chart-managed secrets, ServiceMonitor, GPU evaluator": {
    "s3.auth.existingSecret": "",
    "s3.auth.accessKeyId": "mambalign",
    "s3.auth.secretAccessKey": "not-a-real-secret",
    "judge.auth.apiKey": "sk-test",
    "serviceMonitor.enabled": true,
    "evaluator.gpus": 1,
    "trainer.trackers.wandb.apiKeySecret": "wandb",
    "trainer.trackers.mlflow.trackingUri": "http://mlflow.ml:5000",
    "trainer.trackers.mlflow.authSecret": "mlflow-auth",
  },
  "cert-manager TLS, mutual TLS, OIDC, a user token": {
    "tls.certManager.enabled": true,
    "tls.mutual": true,
    "auth.oidc.issuer": "https://dex.example.com",
    "auth.oidc.audience": "mambalign",
    "auth.oidc.jwksUrl": "https://dex.example.com/keys",
    "auth.tokens[0].name": "alice",
    "auth.tokens[0].role": "operator",
    "auth.tokens[0].sha256": "0d5ad63099b04bce4577cc2b78a32fc21c423604a3dbf2318cff573e218800a3",
  },
  "existing auth and TLS Secrets": { "auth.existingSecret": "mambalign-auth", "auth.bootstrapAdmin": false, "tls.existingSecret": "mambalign-tls" },
};

const renders = new Map<string, Manifest[]>(Object.entries(COMBOS).map(([name, set]) => [name, render(set)]));
const find = (docs: Manifest[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const podSpecs = (docs: Manifest[]) =>
  docs.flatMap((d) => {
    if (["Deployment", "StatefulSet"].includes(d.kind)) return [{ owner: `${d.kind}/${d.metadata.name}`, spec: d.spec.template.spec }];
    if (d.kind === "ConfigMap" && d.data?.["job-template.json"]) {
      return [{ owner: `Job template ${d.metadata.name}`, spec: JSON.parse(d.data["job-template.json"]).spec.template.spec }];
    }
    return [];
  });
const jobTemplate = (docs: Manifest[]) => {
  const cm = find(docs, "ConfigMap", "r1-mambalign-trainer-job-template");
  assert.ok(cm, "job template ConfigMap rendered");
  return parseJobTemplate(cm.data["job-template.json"], "rendered job template");
};
const env = (container: { env: { name: string; value?: string; valueFrom?: unknown }[] }, name: string) =>
  container.env.find((e) => e.name === name);

for (const [name, set] of Object.entries(COMBOS)) {
  test(`helm chart — lint --strict is clean: ${name}`, () => {
    const args = ["lint", "--strict", CHART];
    for (const [k, v] of Object.entries(set)) args.push("--set", `${k}=${v}`);
    const r = helm(args);
    assert.ok(r.ok, r.stdout + r.stderr);
  });

  test(`helm chart — every rendered object is schema-valid: ${name}`, async () => {
    const docs = renders.get(name)!;
    assert.ok(docs.length > 10);
    for (const d of docs) await validateManifest(d);
    // The Job the launcher will create is validated as a Job too, not just as ConfigMap text.
    const cm = docs.find((d) => d.data?.["job-template.json"]);
    if (cm) await validateManifest({ ...JSON.parse(cm.data["job-template.json"]), metadata: { name: "trainer-job-instance" } });
  });
}

test("helm chart — job mode: a Job per stage with all GPUs on one node, disruption-tolerant, checkpoint-safe grace", () => {
  const docs = renders.get("job mode, bundled infra, A100 (defaults)")!;
  const { job } = jobTemplate(docs);
  const spec = job.spec!;
  assert.deepEqual(spec.podFailurePolicy!.rules[0], { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] });
  assert.equal(spec.template.spec!.restartPolicy, "Never");
  assert.ok(spec.ttlSecondsAfterFinished! > 0 && spec.backoffLimit! >= 0);
  const pod = spec.template.spec!;
  const c = pod.containers[0]!;
  // One pod holds every GPU of the stage, so they are on one node by construction.
  assert.equal(pod.containers.length, 1);
  assert.equal(c.resources!.limits!["nvidia.com/gpu"], "1");
  assert.equal(env(c as any, "MAMBALIGN_TRAINER_MAX_JOBS")!.value, "1");
  const grace = Number(env(c as any, "MAMBALIGN_CHECKPOINT_GRACE_S")!.value);
  assert.ok(pod.terminationGracePeriodSeconds! > grace, "pod grace period exceeds the checkpoint grace");
  const terms = pod.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions!;
  assert.equal(terms[0]!.key, "nvidia.com/gpu.product");
  assert.ok(terms[0]!.values!.every((v) => v.includes("A100")));
  assert.ok(pod.tolerations!.some((t) => t.key === "nvidia.com/gpu" && t.operator === "Exists"));
  assert.equal(job.metadata!.labels!["kueue.x-k8s.io/queue-name"], undefined, "no Kueue label unless a queue is configured");
  assert.equal(spec.suspend, undefined);
  // Nothing but the launcher creates trainers: no trainer Deployment in job mode.
  assert.equal(find(docs, "Deployment", "r1-mambalign-trainer"), undefined);
  assert.ok(find(docs, "Deployment", "r1-mambalign-launcher"));
  assert.equal(find(docs, "Deployment", "r1-mambalign-autoscaler"), undefined);
});

test("helm chart — H100 preset with Kueue: 8 GPUs, H100 products, queue label, created suspended", () => {
  const { job, selector } = jobTemplate(renders.get("H100, 8 GPUs per stage, Kueue")!);
  assert.equal(job.metadata!.labels!["kueue.x-k8s.io/queue-name"], "gpu-h100");
  assert.equal(job.spec!.suspend, true);
  const pod = job.spec!.template.spec!;
  assert.equal(pod.containers[0]!.resources!.limits!["nvidia.com/gpu"], "8");
  assert.equal(env(pod.containers[0] as any, "MAMBALIGN_TRAINER_GPUS")!.value, "8", "8 GPUs, 8 training processes");
  const values = pod.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions![0]!.values!;
  assert.ok(values.length > 0 && values.every((v) => v.includes("H100")));
  assert.equal(selector, "app.kubernetes.io/instance=r1,app.kubernetes.io/component=trainer-job");
});

test("helm chart — pool mode: trainer Deployment of one-job-at-a-time workers, sized by the autoscaler or KEDA", () => {
  const builtIn = renders.get("pool mode, built-in autoscaler")!;
  const trainer = find(builtIn, "Deployment", "r1-mambalign-trainer")!;
  const c = trainer.spec.template.spec.containers[0];
  assert.equal(env(c, "MAMBALIGN_TRAINER_MAX_JOBS")!.value, "0");
  assert.equal(c.resources.limits["nvidia.com/gpu"], "1");
  assert.equal(trainer.spec.replicas, 0, "starts at minReplicas: no idle GPU after install");
  assert.equal(trainer.spec.strategy.rollingUpdate.maxSurge, 0);
  const scaler = find(builtIn, "Deployment", "r1-mambalign-autoscaler")!;
  const sc = scaler.spec.template.spec.containers[0];
  assert.equal(env(sc, "MAMBALIGN_AUTOSCALER_DEPLOYMENT")!.value, "r1-mambalign-trainer");
  assert.equal(env(sc, "MAMBALIGN_KUBE_PROGRAM")!.value, "autoscaler");
  assert.equal(builtIn.filter((d) => d.kind === "ScaledObject").length, 0);
  assert.equal(find(builtIn, "Deployment", "r1-mambalign-launcher"), undefined);

  const keda = renders.get("pool mode, KEDA")!;
  const so = find(keda, "ScaledObject", "r1-mambalign-trainer")!;
  assert.equal(so.spec.scaleTargetRef.name, "r1-mambalign-trainer");
  assert.equal(so.spec.minReplicaCount, 0);
  assert.equal(so.spec.triggers[0].type, "nats-jetstream");
  assert.equal(so.spec.triggers[0].metadata.natsServerMonitoringEndpoint, "r1-mambalign-nats.ml.svc:8222");
  assert.equal(so.spec.triggers[0].metadata.stream, "JOBS");
  assert.equal(find(keda, "Deployment", "r1-mambalign-autoscaler"), undefined, "no built-in autoscaler beside KEDA");
  assert.equal(keda.filter((d) => d.kind === "Role").length, 0, "KEDA pool mode needs no Role of ours");
});

test("helm chart — RBAC least privilege: only the launcher creates Jobs, only the autoscaler patches the trainer's scale", () => {
  for (const [name, docs] of renders) {
    assert.equal(docs.filter((d) => d.kind === "ClusterRole" || d.kind === "ClusterRoleBinding").length, 0, name);
    const roles = docs.filter((d) => d.kind === "Role");
    for (const r of roles) {
      for (const rule of r.rules) {
        assert.ok(!rule.verbs.includes("*") && !rule.resources.includes("*") && !rule.apiGroups.includes("*"), `${name}: ${r.metadata.name} has a wildcard`);
      }
    }
    const grants = (verb: string, resource: string) =>
      roles.filter((r) => r.rules.some((x: any) => x.verbs.includes(verb) && x.resources.includes(resource))).map((r) => r.metadata.name);
    const mode = COMBOS[name]!["trainer.mode"] ?? "job";
    assert.deepEqual(grants("create", "jobs"), mode === "job" ? ["r1-mambalign-launcher"] : [], name);
    assert.deepEqual(grants("delete", "jobs"), [], name);
    const patchers = grants("patch", "deployments/scale");
    assert.deepEqual(patchers, mode === "pool" && !COMBOS[name]!["keda.enabled"] ? ["r1-mambalign-autoscaler"] : [], name);
    for (const r of roles.filter((x) => x.metadata.name === "r1-mambalign-autoscaler")) {
      assert.deepEqual(r.rules, [{ apiGroups: ["apps"], resources: ["deployments/scale"], resourceNames: ["r1-mambalign-trainer"], verbs: ["get", "patch"] }]);
    }
    // Every binding binds its own component's ServiceAccount, and only those two SAs mount a token.
    for (const b of docs.filter((d) => d.kind === "RoleBinding")) {
      assert.deepEqual(b.subjects, [{ kind: "ServiceAccount", name: b.roleRef.name, namespace: "ml" }]);
    }
    const tokenMounting = docs.filter((d) => d.kind === "ServiceAccount" && d.automountServiceAccountToken !== false).map((d) => d.metadata.name);
    assert.deepEqual(tokenMounting.sort(), roles.map((r) => r.metadata.name).sort(), name);
    for (const { owner, spec } of podSpecs(docs)) {
      assert.ok(spec.serviceAccountName, `${name}: ${owner} runs under its own ServiceAccount`);
    }
  }
});

test("helm chart — every pod runs non-root with a read-only root filesystem and no capabilities", () => {
  for (const [name, docs] of renders) {
    for (const { owner, spec } of podSpecs(docs)) {
      assert.equal(spec.securityContext?.runAsNonRoot, true, `${name}: ${owner}`);
      for (const c of spec.containers) {
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${name}: ${owner}/${c.name}`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${name}: ${owner}/${c.name}`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ["ALL"], `${name}: ${owner}/${c.name}`);
        assert.ok(c.resources?.requests && c.resources?.limits, `${name}: ${owner}/${c.name} has requests and limits`);
        assert.ok(c.volumeMounts.some((v: any) => v.mountPath === "/tmp"), `${name}: ${owner}/${c.name} has a writable /tmp`);
      }
    }
  }
});

test("helm chart — trainer trackers: W&B key from the named Secret (offline without one), MLflow server, experiment and optional auth Secret", () => {
  const trainerEnv = (docs: Manifest[]) => jobTemplate(docs).job.spec!.template.spec!.containers[0]! as any;
  const plain = trainerEnv(renders.get("job mode, bundled infra, A100 (defaults)")!);
  assert.equal(env(plain, "WANDB_API_KEY"), undefined, "no Secret named: W&B runs offline");
  assert.equal(env(plain, "MLFLOW_TRACKING_URI"), undefined, "no server: recipes name their own");
  assert.equal(env(plain, "WANDB_PROJECT")!.value, "mambalign");
  assert.equal(env(plain, "MLFLOW_EXPERIMENT_NAME")!.value, "mambalign");
  const set = trainerEnv(renders.get("chart-managed secrets, ServiceMonitor, GPU evaluator")!);
  assert.deepEqual(env(set, "WANDB_API_KEY")!.valueFrom, { secretKeyRef: { name: "wandb", key: "WANDB_API_KEY" } });
  assert.equal(env(set, "MLFLOW_TRACKING_URI")!.value, "http://mlflow.ml:5000");
  for (const name of ["MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"]) {
    assert.deepEqual(env(set, name)!.valueFrom, { secretKeyRef: { name: "mlflow-auth", key: name, optional: true } });
  }
  // The trainer's NetworkPolicy lets it reach that server's port (5000), and no port for MLflow without one.
  const egressPorts = (docs: Manifest[]) =>
    find(docs, "NetworkPolicy", "r1-mambalign-trainer")!.spec.egress.flatMap((r: any) => (r.ports ?? []).map((p: any) => p.port));
  assert.ok(egressPorts(renders.get("chart-managed secrets, ServiceMonitor, GPU evaluator")!).includes(5000));
  assert.ok(!egressPorts(renders.get("job mode, bundled infra, A100 (defaults)")!).includes(5000));
});

test("helm chart — control-plane services use HTTP readiness probes (the kubelet's gRPC probe speaks no TLS), Services and PDBs", () => {
  const docs = renders.get("job mode, bundled infra, A100 (defaults)")!;
  for (const svc of ["pipeline", "datasets", "registry", "evaluator"]) {
    const d = find(docs, "Deployment", `r1-mambalign-${svc}`)!;
    const c = d.spec.template.spec.containers[0];
    assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "metrics" }, svc);
    assert.equal(c.livenessProbe.httpGet.path, "/healthz", svc);
    assert.ok(find(docs, "Service", `r1-mambalign-${svc}`), svc);
    assert.ok(find(docs, "PodDisruptionBudget", `r1-mambalign-${svc}`), svc);
    assert.equal(env(c, "MAMBALIGN_REGISTRY_ADDR")!.value, "r1-mambalign-registry:50051");
  }
});

test("helm chart — credentials reach pods only through Secrets", () => {
  for (const [name, docs] of renders) {
    for (const { owner, spec } of podSpecs(docs)) {
      for (const c of spec.containers) {
        for (const e of c.env ?? []) {
          // A credential comes from a Secret: by secretKeyRef, or as a file of a mounted Secret (/etc/mambalign/...).
          const mountedFile = typeof e.value === "string" && e.value.startsWith("/etc/mambalign/");
          if (/KEY|SECRET|PASSWORD|TOKEN|ROOT_USER/.test(e.name) && !mountedFile) assert.ok(e.valueFrom?.secretKeyRef && e.value === undefined, `${name}: ${owner} ${e.name}`);
        }
      }
    }
  }
  const managed = renders.get("chart-managed secrets, ServiceMonitor, GPU evaluator")!;
  assert.ok(find(managed, "Secret", "r1-mambalign-s3"));
  assert.ok(find(managed, "Secret", "r1-mambalign-judge"));
  // Defaults reference the user's S3 Secret; the chart makes only its own tokens, TLS and NATS users' Secrets.
  assert.deepEqual(
    renders.get("job mode, bundled infra, A100 (defaults)")!.filter((d) => d.kind === "Secret").map((d) => d.metadata.name).sort(),
    ["r1-mambalign-auth", "r1-mambalign-nats-users", "r1-mambalign-tls"],
  );
  assert.deepEqual(
    renders.get("existing auth and TLS Secrets")!.filter((d) => d.kind === "Secret").map((d) => d.metadata.name),
    ["r1-mambalign-nats-users"],
  );
});

test("helm chart — bundled NATS/MinIO have PVCs; external infra renders neither and points every pod at the endpoints", () => {
  const bundled = renders.get("job mode, bundled infra, A100 (defaults)")!;
  const nats = find(bundled, "StatefulSet", "r1-mambalign-nats")!;
  assert.equal(nats.spec.volumeClaimTemplates[0].metadata.name, "data");
  assert.match(find(bundled, "ConfigMap", "r1-mambalign-nats")!.data["nats.conf"], /jetstream \{\s+store_dir: \/data/);
  assert.ok(find(bundled, "StatefulSet", "r1-mambalign-minio")!.spec.volumeClaimTemplates[0]);

  const external = renders.get("external NATS and S3")!;
  assert.equal(external.filter((d) => d.kind === "StatefulSet").length, 0);
  for (const { spec } of podSpecs(external)) {
    for (const c of spec.containers) {
      // The dashboard only calls the gRPC API: it is given neither the bus nor the store (nor their credentials).
      if (c.name === "dashboard") {
        assert.deepEqual([env(c, "MAMBALIGN_NATS_URL"), env(c, "MAMBALIGN_S3_ENDPOINT"), env(c, "AWS_SECRET_ACCESS_KEY")], [undefined, undefined, undefined]);
        continue;
      }
      assert.equal(env(c, "MAMBALIGN_NATS_URL")!.value, "nats://nats.infra.svc:4222");
      if (env(c, "MAMBALIGN_S3_ENDPOINT")) assert.equal(env(c, "MAMBALIGN_S3_ENDPOINT")!.value, "https://s3.eu-west-1.amazonaws.com");
    }
  }
});

test("helm chart — every pod is covered by a NetworkPolicy that opens only its own ports", () => {
  for (const [name, docs] of renders) {
    const policies = docs.filter((d) => d.kind === "NetworkPolicy");
    const selects = (p: Manifest, labels: Record<string, string>) =>
      Object.entries(p.spec.podSelector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v);
    for (const d of docs.filter((x) => ["Deployment", "StatefulSet"].includes(x.kind))) {
      const labels = d.spec.template.metadata.labels;
      const own = policies.filter((p) => selects(p, labels));
      assert.ok(own.length > 0, `${name}: ${d.metadata.name} has a NetworkPolicy`);
      const open = own.flatMap((p) => p.spec.ingress.flatMap((r: any) => r.ports.map((x: any) => x.port)));
      const declared = d.spec.template.spec.containers.flatMap((c: any) => (c.ports ?? []).map((x: any) => x.containerPort));
      for (const port of open) assert.ok(declared.includes(port), `${name}: ${d.metadata.name} policy opens ${port}, which it does not serve`);
    }
  }
});

test("helm chart — ServiceMonitor scrapes every Service that exposes metrics", () => {
  const docs = renders.get("chart-managed secrets, ServiceMonitor, GPU evaluator")!;
  const sm = docs.find((d) => d.kind === "ServiceMonitor")!;
  const scraped = docs.filter((d) => d.kind === "Service" && Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => d.metadata.labels[k] === v));
  const withMetrics = docs.filter((d) => d.kind === "Service" && d.spec.ports.some((p: any) => p.name === "metrics"));
  assert.deepEqual(scraped.map((s) => s.metadata.name).sort(), withMetrics.map((s) => s.metadata.name).sort());
  const evaluator = find(docs, "Deployment", "r1-mambalign-evaluator")!;
  assert.equal(evaluator.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"], "1");
});

test("helm chart — contradictory values fail with a message naming them", () => {
  const cases: [Record<string, string | number | boolean>, RegExp][] = [
    [{ "nats.bundled": false }, /nats\.bundled=false requires nats\.external\.url/],
    [{ "minio.bundled": false }, /minio\.bundled=false requires s3\.external\.endpoint/],
    [{ "keda.enabled": true }, /keda\.enabled=true needs trainer\.mode=pool/],
    // values.schema.json refuses these first (its message names the key).
    [{ "trainer.mode": "batch" }, /trainer\/mode': value must be one of 'job', 'pool'/],
    [{ "trainer.gpu.preset": "v100" }, /trainer\/gpu\/preset': value must be one of 'a100', 'h100', 'none'/],
    [{ "trainer.terminationGracePeriodSeconds": 60 }, /terminationGracePeriodSeconds \(60\) must exceed trainer\.checkpointGraceSeconds \(120\)/],
    [{ "trainer.pool.minReplicas": 5, "trainer.pool.maxReplicas": 2 }, /minReplicas must not exceed/],
    [{ "s3.auth.existingSecret": "" }, /s3\.auth: set existingSecret, or both accessKeyId and secretAccessKey/],
    [{ "s3.auth.accessKeyId": "x" }, /s3\.auth: set either existingSecret or accessKeyId/],
    [{ "trainer.mode": "pool", "trainer.job.kueue.queueName": "q" }, /Kueue admits Jobs/],
    [{ "nats.bundled": false, "nats.external.url": "nats://n:4222" }, /nats\.auth\.enabled=true with nats\.bundled=false requires nats\.auth\.existingSecret/],
  ];
  for (const [set, message] of cases) assert.throws(() => render(set), message, JSON.stringify(set));
});

test("helm chart — the dashboard runs as its own Deployment and Service, signs users in with the API's tokens and holds no token of its own", () => {
  const docs = renders.get("job mode, bundled infra, A100 (defaults)")!;
  const deployment = find(docs, "Deployment", "r1-mambalign-dashboard");
  assert.ok(deployment, "dashboard Deployment rendered");
  const c = deployment.spec.template.spec.containers[0];
  assert.deepEqual(c.command, ["node", "services/dashboard/dist/main.js"]);
  assert.equal(env(c, "MAMBALIGN_TOKENS_FILE")!.value, "/etc/mambalign/auth/tokens.json");
  assert.equal(env(c, "MAMBALIGN_PIPELINE_ADDR")!.value, "r1-mambalign-pipeline:50051");
  assert.equal(env(c, "MAMBALIGN_TOKEN"), undefined, "it calls the API with each user's token");
  const service = find(docs, "Service", "r1-mambalign-dashboard")!;
  assert.deepEqual(service.spec.ports.map((p: { name: string; port: number }) => [p.name, p.port]), [["http", 8080], ["metrics", 9464]]);
  assert.equal(find(render({ "dashboard.enabled": "false" }), "Deployment", "r1-mambalign-dashboard"), undefined);
});
