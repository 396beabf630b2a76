// Test-only DatasetService (GetDataset) and RegistryService (RegisterVersion, GetVersion) over real gRPC,
// backed by the same object store, standing in for services/datasets and services/registry.
import { status } from "@grpc/grpc-js";
import {
  type AdapterVersion,
  ApiError,
  copyPrefixWithManifest,
  createClient,
  DatasetKind,
  DatasetServiceClient,
  DatasetServiceService,
  type DatasetVersion,
  type ObjectStore,
  type RegisterVersionRequest,
  RegistryServiceClient,
  RegistryServiceService,
  sha256Hex,
  startGrpcServer,
  unary,
  Metrics,
} from "@mambalign/core";
import type { Logger } from "pino";
import type { Peers } from "../stage-inputs.js";

export interface InTestPeers {
  address: string;
  peers: Peers;
  /** Writes train/test JSONL under datasets/<sha256>/ (as the datasets service would) and serves its version. */
  addDataset(kind: DatasetKind, train: object[], test: object[]): Promise<DatasetVersion>;
  /** Every RegisterVersion request received, in order. */
  registered: RegisterVersionRequest[];
  versions: Map<string, AdapterVersion>;
  /** Serves a version as if registered elsewhere (e.g. a base model). */
  addVersion(v: AdapterVersion): void;
  stop(): Promise<void>;
}

function jsonl(rows: object[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
}

export async function startInTestPeers(store: ObjectStore, logger: Logger): Promise<InTestPeers> {
  const datasets = new Map<string, DatasetVersion>();
  const versions = new Map<string, AdapterVersion>();
  const registered: RegisterVersionRequest[] = [];
  const ctx = { service: "in-test-peers", logger, metrics: new Metrics({ defaultMetrics: false }) };

  const server = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    logger,
    services: [
      {
        name: "mambalign.v1.DatasetService",
        definition: DatasetServiceService,
        implementation: {
          getDataset: unary(ctx, "GetDataset", async (req: { id: string }) => {
            const ds = datasets.get(req.id);
            if (!ds) throw ApiError.notFound("dataset", req.id);
            return { dataset: ds };
          }),
          prepareDataset: unary(ctx, "PrepareDataset", async () => {
            throw new ApiError(status.UNIMPLEMENTED, "not part of the trainer tests");
          }),
          listDatasets: unary(ctx, "ListDatasets", async () => ({ datasets: [...datasets.values()] })),
        },
      },
      {
        name: "mambalign.v1.RegistryService",
        definition: RegistryServiceService,
        implementation: {
          registerVersion: unary(ctx, "RegisterVersion", async (req: RegisterVersionRequest) => {
            registered.push(req);
            if (!req.name) throw ApiError.invalidArgument("name", "is empty");
            const src = store.keyFromUri(req.sourceUri);
            const n = [...versions.values()].filter((v) => v.name === req.name).length + 1;
            const prefix = `adapters/${req.name}/${n}`;
            const { manifest, manifestSha256 } = await copyPrefixWithManifest(store, src, prefix);
            const same = [...versions.values()].find((v) => v.name === req.name && v.manifestSha256 === manifestSha256);
            if (same) return { version: same };
            const v: AdapterVersion = {
              id: `${req.name}/v${n}`,
              name: req.name,
              version: n,
              kind: req.kind,
              stage: req.stage,
              baseModel: req.baseModel,
              parent: req.parent,
              runId: req.runId,
              uri: `${store.uri(prefix)}/`,
              manifest: manifest.files.map((f) => ({ path: f.path, sha256: f.sha256, size: BigInt(f.size) })),
              manifestSha256,
              metrics: req.metrics,
              evals: [],
              aliases: [],
              createdAt: new Date(),
              datasets: req.datasets,
            };
            versions.set(v.id, v);
            return { version: v };
          }),
          getVersion: unary(ctx, "GetVersion", async (req: { id: string }) => {
            const v = versions.get(req.id);
            if (!v) throw ApiError.notFound("version", req.id);
            return { version: v };
          }),
          ...Object.fromEntries(
            ["listVersions", "setAlias", "resolveAlias", "attachEval", "exportVersion"].map((m) => [
              m,
              unary(ctx, m, async () => {
                throw new ApiError(status.UNIMPLEMENTED, `${m} is not part of the trainer tests`);
              }),
            ]),
          ),
        },
      },
    ],
  });
  const address = `127.0.0.1:${server.port}`;
  const peers: Peers = {
    datasets: createClient(DatasetServiceClient, address),
    registry: createClient(RegistryServiceClient, address),
  };
  return {
    address,
    peers,
    registered,
    versions,
    addVersion: (v) => void versions.set(v.id, v),
    async addDataset(kind, train, test) {
      const files = { train: jsonl(train), test: jsonl(test) };
      const id = sha256Hex(files.train + files.test);
      const splits = [];
      for (const [name, body] of Object.entries(files)) {
        const key = `datasets/${id}/${name}.jsonl`;
        await store.put(key, body);
        splits.push({ name, rows: name === "train" ? train.length : test.length, key, sha256: sha256Hex(body) });
      }
      const ds: DatasetVersion = {
        id,
        name: "trainer-test",
        kind,
        splits,
        quarantinedRows: 0,
        quarantineKey: "",
        quarantineSample: [],
        sources: [],
        createdAt: new Date(),
        uri: `${store.uri(`datasets/${id}`)}/`,
      };
      datasets.set(id, ds);
      return ds;
    },
    async stop() {
      peers.datasets.close();
      peers.registry.close();
      await server.close(1_000);
    },
  };
}
