// chart — secure by default: the rendered tokens Secret and TLS Secret work with the services' own
// security settings (a server started as a pod would be, called as another component would call it),
// every pod reads only its own token, and plaintext is only what tls.enabled=false asks for.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import path from "node:path";
import { ApiError, callUnary, createClient, hashToken, ListRunsResponse, loadSecurityConfig, PipelineServiceClient, PipelineServiceService, serverSecurityFor, startGrpcServer, status, unary, createLogger, Metrics } from "@mambalign/core";
import { CHART, helm, render, type Manifest } from "./helm.js";

const find = (docs: Manifest[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const HOLDERS = ["pipeline", "datasets", "registry", "evaluator", "trainer"];

/** The chart's Secrets as the files a pod would see mounted. */
function mountSecrets(docs: Manifest[], dir: string): { tokens: Record<string, string>; env: Record<string, string> } {
  const auth = find(docs, "Secret", "r1-mambalign-auth")!;
  const tls = find(docs, "Secret", "r1-mambalign-tls")!;
  fs.mkdirSync(path.join(dir, "auth"));
  fs.mkdirSync(path.join(dir, "tls"));
  fs.writeFileSync(path.join(dir, "auth", "tokens.json"), auth.stringData["tokens.json"]);
  for (const k of ["tls.crt", "tls.key", "ca.crt"]) fs.writeFileSync(path.join(dir, "tls", k), Buffer.from(tls.data[k], "base64"));
  return {
    tokens: auth.stringData,
    env: {
      MAMBALIGN_TOKENS_FILE: path.join(dir, "auth", "tokens.json"),
      MAMBALIGN_TLS_CERT: path.join(dir, "tls", "tls.crt"),
      MAMBALIGN_TLS_KEY: path.join(dir, "tls", "tls.key"),
      MAMBALIGN_CA: path.join(dir, "tls", "ca.crt"),
      MAMBALIGN_TLS_SERVER_NAME: "r1-mambalign-pipeline",
    },
  };
}

test("chart defaults — the tokens Secret holds each component's token and only hashes in tokens.json; a server configured from the mounted Secrets serves TLS and knows the components and the bootstrap admin", async (t) => {
  const docs = render();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mambalign-chart-auth-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { tokens, env } = mountSecrets(docs, dir);
  const file = JSON.parse(tokens["tokens.json"]!) as { tokens: { name: string; role: string; sha256: string }[] };
  for (const who of HOLDERS) {
    const token = tokens[`token-${who}`]!;
    assert.ok(token.length >= 40, who);
    assert.ok(!tokens["tokens.json"]!.includes(token), `tokens.json holds no token (${who})`);
    assert.deepEqual(file.tokens.find((e) => e.name === `service-${who}`), { name: `service-${who}`, role: "operator", sha256: hashToken(token) });
  }
  assert.equal(file.tokens.find((e) => e.name === "bootstrap-admin")?.sha256, hashToken(tokens["admin-token"]!));

  // As the pipeline pod: MAMBALIGN_* from the chart, TLS on a non-loopback bind is what makes it start.
  const config = loadSecurityConfig(env);
  const logger = createLogger("test", "silent");
  const ctx = { service: "pipeline", logger, metrics: new Metrics({ defaultMetrics: false }) };
  const server = await startGrpcServer({
    host: "0.0.0.0",
    port: 0,
    logger,
    security: serverSecurityFor(config),
    services: [{ name: "mambalign.v1.PipelineService", definition: PipelineServiceService, implementation: { listRuns: unary(ctx, "ListRuns", async () => ListRunsResponse.fromPartial({})) } }],
  });
  t.after(() => server.close(1000));
  const addr = `127.0.0.1:${server.port}`;
  const as = (token: string | undefined, ca = config.client.ca) => createClient(PipelineServiceClient, addr, { ...config.client, ca, ...(token ? { token } : { token: undefined }) });
  const list = (c: PipelineServiceClient) => callUnary(c.listRuns.bind(c), {}, { deadlineMs: 5_000 });
  for (const token of [tokens["token-trainer"]!, tokens["admin-token"]!]) {
    const c = as(token);
    await list(c);
    c.close();
  }
  const anonymous = as(undefined);
  await assert.rejects(list(anonymous), (e: ApiError) => e.code === status.UNAUTHENTICATED);
  anonymous.close();
});

test("chart — every pod reads only its own token and only tokens.json of the auth Secret; TLS on by default, plaintext only with tls.enabled=false", () => {
  const check = (docs: Manifest[], tls: boolean) => {
    const pods = docs.flatMap((d) => {
      if (d.kind === "Deployment" && HOLDERS.some((h) => d.metadata.name === `r1-mambalign-${h}`)) return [{ who: d.metadata.name.replace("r1-mambalign-", ""), spec: d.spec.template.spec }];
      if (d.kind === "ConfigMap" && d.data?.["job-template.json"]) return [{ who: "trainer", spec: JSON.parse(d.data["job-template.json"]).spec.template.spec }];
      return [];
    });
    assert.ok(pods.length >= 5, pods.map((p) => p.who).join());
    for (const { who, spec } of pods) {
      const envs = spec.containers[0].env as { name: string; value?: string; valueFrom?: any }[];
      const get = (n: string) => envs.find((e) => e.name === n);
      assert.deepEqual(get("MAMBALIGN_TOKEN")!.valueFrom.secretKeyRef, { name: "r1-mambalign-auth", key: `token-${who}` }, who);
      const auth = spec.volumes.find((v: any) => v.name === "auth");
      assert.deepEqual(auth.secret.items, [{ key: "tokens.json", path: "tokens.json" }], who);
      assert.equal(get("MAMBALIGN_TLS_CERT")?.value, tls ? "/etc/mambalign/tls/tls.crt" : undefined, who);
      assert.equal(get("MAMBALIGN_ALLOW_PLAINTEXT")?.value, tls ? undefined : "true", who);
    }
  };
  check(render(), true);
  check(render({ "tls.enabled": false }), false);
});

test("chart — cert-manager: a self-signed CA for the release issues one certificate for every Service name, for server and client use", () => {
  const docs = render({ "tls.certManager.enabled": true });
  const cert = find(docs, "Certificate", "r1-mambalign-tls")!;
  assert.equal(cert.spec.secretName, "r1-mambalign-tls");
  assert.deepEqual(cert.spec.issuerRef, { name: "r1-mambalign-ca", kind: "Issuer" });
  assert.ok(cert.spec.dnsNames.includes("r1-mambalign-registry") && cert.spec.dnsNames.includes("r1-mambalign-registry.ml.svc.cluster.local"));
  assert.deepEqual(cert.spec.usages, ["server auth", "client auth", "digital signature"]);
  assert.ok(find(docs, "Certificate", "r1-mambalign-ca")!.spec.isCA);
  assert.equal(find(docs, "Secret", "r1-mambalign-tls"), undefined, "cert-manager writes the Secret");
  const own = render({ "tls.certManager.enabled": true, "tls.certManager.issuerRef.name": "corp-ca", "tls.certManager.issuerRef.kind": "ClusterIssuer" });
  assert.deepEqual(find(own, "Certificate", "r1-mambalign-tls")!.spec.issuerRef, { name: "corp-ca", kind: "ClusterIssuer" });
  assert.equal(find(own, "Issuer", "r1-mambalign-ca"), undefined);
});

test("chart — contradictory or unsafe auth values fail naming them", () => {
  const fails = (set: Record<string, string | boolean>, message: RegExp) => {
    const args = ["template", "r1", CHART];
    for (const [k, v] of Object.entries(set)) args.push("--set", `${k}=${v}`);
    const r = helm(args);
    assert.ok(!r.ok, `should fail: ${JSON.stringify(set)}`);
    assert.match(r.stderr, message);
  };
  fails({ "auth.tokens[0].name": "alice", "auth.tokens[0].role": "admin", "auth.tokens[0].sha256": "mbl_a-plain-token" }, /auth\.tokens|sha256/);
  fails({ "tls.mutual": true, "tls.enabled": false }, /tls\.mutual=true needs tls\.enabled=true/);
  fails({ "auth.existingSecret": "mine" }, /auth\.existingSecret is set/);
  fails({ "auth.oidc.issuer": "https://idp" }, /auth\.oidc\.issuer needs/);
});
