import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";
import { createLogger } from "../logging.js";
import { Metrics, startHttpEndpoints } from "../metrics.js";
import {
  DatasetServiceClient,
  DatasetServiceService,
  GetDatasetResponse,
  ListDatasetsResponse,
  type GetDatasetRequest,
} from "../gen/index.js";
import { ApiError } from "../errors.js";
import { InvalidKeyError } from "../store/errors.js";
import { callUnary, createClient } from "./client.js";
import { type HandlerContext, unary } from "./handlers.js";
import { GRPC_MAX_MESSAGE_BYTES, startGrpcServer } from "./server.js";
import { testServerSecurity } from "../../test-support/auth.js";

const logger = createLogger("test", "silent");

type DatasetsImpl = Parameters<typeof startGrpcServer>[0]["services"][number]["implementation"];

async function serveDatasets(metrics: Metrics, implementation: (ctx: HandlerContext) => DatasetsImpl, ctxLogger = logger, maxMessageBytes?: number) {
  const ctx = { service: "datasets", logger: ctxLogger, metrics };
  const handle = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    logger,
    security: testServerSecurity(),
    ...(maxMessageBytes ? { maxMessageBytes } : {}),
    services: [{ name: "mambalign.v1.DatasetService", definition: DatasetServiceService, implementation: implementation(ctx) }],
  });
  return { handle, metrics, client: createClient(DatasetServiceClient, `127.0.0.1:${handle.port}`) };
}

function startDatasets(maxMessageBytes?: number) {
  return serveDatasets(new Metrics({ defaultMetrics: false }), (ctx) => ({
    getDataset: unary(ctx, "GetDataset", async (req: GetDatasetRequest) => {
      if (!/^[0-9a-f]{64}$/.test(req.id)) throw ApiError.invalidArgument("id", "must be a sha256 hex digest");
      throw new Error("disk on fire");
    }),
    listDatasets: unary(ctx, "ListDatasets", async () => ListDatasetsResponse.fromPartial({})),
    prepareDataset: unary(ctx, "PrepareDataset", async () => {
      throw new InvalidKeyError("../x", "key", "escapes its prefix");
    }),
  }), logger, maxMessageBytes);
}

test("grpc server — invalid input comes back as INVALID_ARGUMENT naming the field", async () => {
  const { handle, client } = await startDatasets();
  try {
    await assert.rejects(callUnary(client.getDataset.bind(client), { id: "nope" }), (err: ApiError) => {
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.equal(err.details.field, "id");
      assert.match(err.message, /^id: /);
      return true;
    });
    await assert.rejects(callUnary(client.prepareDataset.bind(client), { sources: [], kind: 0, testFraction: 0, seed: 0, name: "", splits: [] }), (err: ApiError) => {
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.equal(err.details.key, "../x");
      return true;
    });
    await assert.rejects(callUnary(client.getDataset.bind(client), { id: "a".repeat(64) }), (err: ApiError) => {
      assert.equal(err.code, status.INTERNAL);
      return true;
    });
    const ok = await callUnary(client.listDatasets.bind(client), {});
    assert.deepEqual(ok, ListDatasetsResponse.fromPartial({}));
    assert.ok(GetDatasetResponse);
  } finally {
    client.close();
    await handle.close(1000);
  }
});

test("grpc server — an error echoing non-ASCII or huge input, or a failure while reporting it, still answers the call", async () => {
  const failing = () => {
    throw new Error("logger down");
  };
  const brokenLogger = { info: failing, error: failing, warn: failing } as unknown as typeof logger;
  const { handle, client } = await serveDatasets(
    new Metrics({ defaultMetrics: false }),
    (ctx) => ({
      getDataset: unary(ctx, "GetDataset", async (req: GetDatasetRequest) => {
        throw ApiError.notFound("dataset", req.id);
      }),
      listDatasets: unary(ctx, "ListDatasets", async () => ListDatasetsResponse.fromPartial({})),
    }),
    brokenLogger,
  );
  const getDataset = (id: string) => callUnary(client.getDataset.bind(client), { id }, { deadlineMs: 5_000 });
  try {
    await assert.rejects(getDataset("café-ä"), (err: ApiError) => {
      assert.equal(err.code, status.NOT_FOUND);
      assert.equal(err.details.key, "café-ä", "non-ASCII details survive the trip");
      assert.match(err.message, /café-ä/);
      return true;
    });
    await assert.rejects(getDataset("x".repeat(200_000)), (err: ApiError) => {
      assert.equal(err.code, status.NOT_FOUND);
      assert.ok(err.message.length < 1_000, `message bounded (${err.message.length} chars)`);
      assert.ok(err.details.key!.length < 1_000, "details bounded");
      return true;
    });
    assert.deepEqual(await callUnary(client.listDatasets.bind(client), {}, { deadlineMs: 5_000 }), ListDatasetsResponse.fromPartial({}));
  } finally {
    client.close();
    await handle.close(1000);
  }
});

for (const [what, limit] of [["the default", GRPC_MAX_MESSAGE_BYTES], ["a configured", 64 * 1024]] as const) {
  test(`grpc server — a request over ${what} maximum message size is refused with RESOURCE_EXHAUSTED and the server keeps answering`, async () => {
    const { handle, client } = await startDatasets(limit === GRPC_MAX_MESSAGE_BYTES ? undefined : limit);
    const getDataset = (id: string) => callUnary(client.getDataset.bind(client), { id }, { deadlineMs: 10_000 });
    try {
      await assert.rejects(getDataset("a".repeat(limit + 1)), (err: ApiError) => {
        assert.equal(err.code, status.RESOURCE_EXHAUSTED, `${status[err.code]} ${err.message}`);
        return true;
      });
      // Just under the limit reaches the handler (its own answer), and so does the next small call.
      await assert.rejects(getDataset("a".repeat(limit - 16)), (err: ApiError) => err.code === status.INVALID_ARGUMENT);
      assert.deepEqual(await callUnary(client.listDatasets.bind(client), {}, { deadlineMs: 5_000 }), ListDatasetsResponse.fromPartial({}));
    } finally {
      client.close();
      await handle.close(1000);
    }
  });
}

test("grpc server — standard health service reports SERVING, then NOT_SERVING on shutdown", async () => {
  const { handle, client } = await startDatasets();
  client.close();
  const def = protoLoader.loadSync(protoPath, { enums: String });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const health = new pkg.grpc.health.v1.Health(`127.0.0.1:${handle.port}`, grpc.credentials.createInsecure());
  const check = (service: string) =>
    new Promise<string>((resolve, reject) =>
      health.check({ service }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res.status))),
    );
  try {
    assert.equal(await check(""), "SERVING");
    assert.equal(await check("mambalign.v1.DatasetService"), "SERVING");
    assert.ok(handle.health instanceof HealthImplementation);
    handle.health.setStatus("mambalign.v1.DatasetService", "NOT_SERVING");
    assert.equal(await check("mambalign.v1.DatasetService"), "NOT_SERVING");
  } finally {
    health.close();
    await handle.close(1000);
  }
});

test("grpc server — reflection lists only the services this server serves, and describes their files with imports", async () => {
  const { handle, client } = await startDatasets();
  client.close();
  // The reflection client from the protocol's own .proto, as shipped in @grpc/reflection.
  const reflectionProto = path.join(path.dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "../proto/grpc/reflection/v1/reflection.proto");
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { oneofs: true })) as any;
  const reflection = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${handle.port}`, grpc.credentials.createInsecure());
  const ask = (request: object) =>
    new Promise<any>((resolve, reject) => {
      const call = reflection.ServerReflectionInfo();
      call.on("data", (res: any) => {
        resolve(res);
        call.end();
      });
      call.on("error", reject);
      call.write(request);
    });
  try {
    const listed = await ask({ listServices: "*" });
    assert.deepEqual(listed.listServicesResponse.service.map((s: { name: string }) => s.name), ["mambalign.v1.DatasetService"]);
    // Each file as protoc compiled it, with its imports, so clients resolve google.protobuf.Timestamp.
    const files = await ask({ fileContainingSymbol: "mambalign.v1.DatasetService" });
    const decoded = files.fileDescriptorResponse.fileDescriptorProto.map((b: Buffer) => fromBinary(FileDescriptorProtoSchema, b));
    const datasets = decoded.find((f: { name: string }) => f.name === "mambalign/v1/datasets.proto");
    assert.ok(datasets, `files: ${decoded.map((f: { name: string }) => f.name).join(", ")}`);
    assert.ok(datasets.dependency.includes("google/protobuf/timestamp.proto"), `imports: ${datasets.dependency.join(", ")}`);
    assert.ok(decoded.some((f: { name: string }) => f.name === "google/protobuf/timestamp.proto"));
  } finally {
    reflection.close();
    await handle.close(1000);
  }
});

test("metrics endpoint — /metrics counts RPCs by code, /readyz follows the readiness check", async () => {
  const { handle, client, metrics } = await startDatasets();
  let ready = false;
  const http = await startHttpEndpoints({ host: "127.0.0.1", port: 0, metrics, ready: () => ready });
  try {
    await callUnary(client.listDatasets.bind(client), {});
    await assert.rejects(callUnary(client.getDataset.bind(client), { id: "x" }));
    const body = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
    assert.match(body, /mambalign_rpc_total\{service="datasets",method="ListDatasets",code="OK"\} 1/);
    assert.match(body, /mambalign_rpc_total\{service="datasets",method="GetDataset",code="INVALID_ARGUMENT"\} 1/);
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/readyz`)).status, 503);
    ready = true;
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/readyz`)).status, 200);
  } finally {
    client.close();
    await http.close();
    await handle.close(1000);
  }
});
