import assert from "node:assert/strict";
import { test } from "node:test";
import { Writable } from "node:stream";
import pino from "pino";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";
import { ApiError, status } from "../errors.js";
import { DatasetServiceClient, DatasetServiceService, GetDatasetResponse, ListDatasetsResponse, PrepareDatasetResponse } from "../gen/index.js";
import { Metrics } from "../metrics.js";
import type { Principal } from "../auth/principal.js";
import { makeTestPki } from "../../test-support/tls.js";
import { TEST_TOKENS, testClientSecurity, testServerSecurity } from "../../test-support/auth.js";
import { principalOf } from "./auth.js";
import { callUnary, type ClientSecurity, createClient } from "./client.js";
import { unary } from "./handlers.js";
import { type ServerSecurity, startGrpcServer } from "./server.js";

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
  return { logger: pino({ level: "info" }, sink), lines };
}

async function serve(security: ServerSecurity, host = "127.0.0.1", logger = capturingLogger().logger) {
  const seen: { principal?: Principal; authorization: unknown[] }[] = [];
  const ctx = { service: "datasets", logger, metrics: new Metrics({ defaultMetrics: false }) };
  const handle = await startGrpcServer({
    host,
    port: 0,
    logger,
    security,
    services: [
      {
        name: "mambalign.v1.DatasetService",
        definition: DatasetServiceService,
        implementation: {
          getDataset: unary(ctx, "GetDataset", async (req: { id: string }) => {
            throw ApiError.notFound("dataset", req.id);
          }),
          listDatasets: unary(ctx, "ListDatasets", async (_req, call) => {
            seen.push({ principal: principalOf(call), authorization: call.metadata.get("authorization") });
            return ListDatasetsResponse.fromPartial({});
          }),
          prepareDataset: unary(ctx, "PrepareDataset", async () => PrepareDatasetResponse.fromPartial({})),
        },
      },
    ],
  });
  return { handle, seen };
}

const list = (c: DatasetServiceClient) => callUnary(c.listDatasets.bind(c), {}, { deadlineMs: 5_000 });
const prepare = (c: DatasetServiceClient) =>
  callUnary(c.prepareDataset.bind(c), { sources: [], kind: 0, testFraction: 0, seed: 0, name: "", splits: [] }, { deadlineMs: 5_000 });
const code = (want: status) => (err: ApiError) => (assert.equal(err.code, want, err.message), true);

test("grpc auth — no token is UNAUTHENTICATED, a viewer calling an operator method PERMISSION_DENIED; the handler sees the principal, never the token", async () => {
  const { handle, seen } = await serve(testServerSecurity());
  const addr = `127.0.0.1:${handle.port}`;
  const anonymous = createClient(DatasetServiceClient, addr, {});
  const viewer = createClient(DatasetServiceClient, addr, testClientSecurity("viewer"));
  const forged = createClient(DatasetServiceClient, addr, { token: "not-a-token" });
  try {
    await assert.rejects(list(anonymous), code(status.UNAUTHENTICATED));
    await assert.rejects(list(forged), (err: ApiError) => (assert.equal(err.code, status.UNAUTHENTICATED), assert.ok(!err.message.includes("not-a-token")), true));
    await assert.rejects(prepare(viewer), (err: ApiError) => {
      assert.equal(err.code, status.PERMISSION_DENIED);
      assert.match(err.message, /test-viewer \(role viewer\) may not call mambalign\.v1\.DatasetService\/PrepareDataset: it needs role operator/);
      return true;
    });
    await list(viewer);
    assert.deepEqual(seen, [{ principal: { name: "test-viewer", role: "viewer", via: "token" }, authorization: [] }]);
  } finally {
    for (const c of [anonymous, viewer, forged]) c.close();
    await handle.close(1000);
  }
});

test("grpc auth — health answers without a token (probes carry none)", async () => {
  const { handle } = await serve(testServerSecurity());
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { enums: String })) as any;
  const health = new pkg.grpc.health.v1.Health(`127.0.0.1:${handle.port}`, grpc.credentials.createInsecure());
  try {
    const res = await new Promise<any>((resolve, reject) => health.check({ service: "" }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
    assert.equal(res.status, "SERVING");
  } finally {
    health.close();
    await handle.close(1000);
  }
});

test("grpc auth — a mutating call is logged with the principal's name and outcome, never the token", async () => {
  const { logger, lines } = capturingLogger();
  const { handle } = await serve(testServerSecurity(), "127.0.0.1", logger);
  const operator = createClient(DatasetServiceClient, `127.0.0.1:${handle.port}`, testClientSecurity("operator"));
  try {
    await prepare(operator);
    await list(operator);
    const mutating = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "mutating call");
    assert.equal(mutating.length, 1, "one line for PrepareDataset, none for ListDatasets");
    assert.equal(mutating[0].principal, "test-operator");
    assert.equal(mutating[0].method, "mambalign.v1.DatasetService/PrepareDataset");
    assert.equal(mutating[0].code, "OK");
    assert.ok(!lines.join("").includes(TEST_TOKENS.operator), "the token is in no log line");
  } finally {
    operator.close();
    await handle.close(1000);
  }
});

test("grpc server — plaintext on a non-loopback address is refused naming MAMBALIGN_ALLOW_PLAINTEXT; the start-up log says plaintext on loopback", async () => {
  await assert.rejects(serve(testServerSecurity(), "0.0.0.0"), /MAMBALIGN_ALLOW_PLAINTEXT/);
  const { logger, lines } = capturingLogger();
  const { handle } = await serve(testServerSecurity(), "127.0.0.1", logger);
  await handle.close(1000);
  assert.ok(lines.some((l) => /plaintext \(loopback only\)/.test(l)), lines.join(""));
  const allowed = await serve({ ...testServerSecurity(), allowPlaintext: true }, "0.0.0.0");
  await allowed.handle.close(1000);
});

test("grpc client — a token is never sent in plaintext to a non-loopback address", () => {
  assert.throws(() => createClient(DatasetServiceClient, "datasets.example:50051", { token: "t" }), /MAMBALIGN_CA/);
  createClient(DatasetServiceClient, "localhost:50051", { token: "t" }).close();
  createClient(DatasetServiceClient, "[::1]:50051", { token: "t" }).close();
});

test("grpc TLS — a client without the CA cannot connect, with it can; under mutual TLS a client without a certificate is refused", async () => {
  const pki = makeTestPki();
  const tls = { cert: pki.serverCert, key: pki.serverKey };
  const withToken = (s: ClientSecurity) => ({ ...testClientSecurity("viewer"), ...s });
  try {
    const { handle } = await serve({ ...testServerSecurity(), tls });
    const addr = `localhost:${handle.port}`;
    const noCa = createClient(DatasetServiceClient, addr, withToken({ tls: true }));
    const plain = createClient(DatasetServiceClient, addr, withToken({}));
    const good = createClient(DatasetServiceClient, addr, withToken({ ca: pki.ca }));
    try {
      await assert.rejects(list(noCa), code(status.UNAVAILABLE));
      await assert.rejects(list(plain), code(status.UNAVAILABLE));
      await list(good);
    } finally {
      for (const c of [noCa, plain, good]) c.close();
      await handle.close(1000);
    }

    const mutual = await serve({ ...testServerSecurity(), tls: { ...tls, clientCa: pki.ca } });
    const maddr = `localhost:${mutual.handle.port}`;
    const noCert = createClient(DatasetServiceClient, maddr, withToken({ ca: pki.ca }));
    const withCert = createClient(DatasetServiceClient, maddr, withToken({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }));
    try {
      await assert.rejects(list(noCert), code(status.UNAVAILABLE));
      await list(withCert);
    } finally {
      for (const c of [noCert, withCert]) c.close();
      await mutual.handle.close(1000);
    }
  } finally {
    pki.remove();
  }
});
