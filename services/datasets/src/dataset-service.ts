// gRPC face of the datasets service: PrepareDataset, GetDataset, ListDatasets, GetDatasetCard.
import {
  ApiError,
  DatasetServiceService,
  type GetDatasetCardRequest,
  type GetDatasetCardResponse,
  type GetDatasetRequest,
  type HandlerContext,
  type ListDatasetsResponse,
  type PrepareDatasetRequest,
  type PrepareDatasetResponse,
  type GetDatasetResponse,
  type ServiceBinding,
  type ServiceDeps,
  unary,
  validateName,
} from "@mambalign/core";
import { DatasetCatalog, isDatasetId } from "./dataset-catalog.js";
import { HISTOGRAM_FILE, loadDatasetCard, renderDatasetCard } from "./dataset-card.js";
import { type DatasetsOptions, datasetsOptionsFromEnv } from "./datasets-options.js";
import { HubClient } from "./hub-client.js";
import { prepareDataset } from "./prepare-dataset.js";
import { resolvePrepareRequest } from "./prepare-request.js";

export const DATASET_SERVICE_NAME = "mambalign.v1.DatasetService";

/** `options` default to the environment (datasetsOptionsFromEnv), read once here at start-up. */
export async function datasetServiceBinding(deps: ServiceDeps, options: DatasetsOptions = datasetsOptionsFromEnv()): Promise<ServiceBinding> {
  const catalog = await DatasetCatalog.open(deps.bus);
  const logger = deps.logger.child({ service: "datasets" });
  const ctx: HandlerContext = { service: "datasets", logger, metrics: deps.metrics };
  const downloaded = deps.metrics.counter("mambalign_dataset_hub_bytes_total", "bytes downloaded from the Hugging Face Hub", ["service"]);
  const lastReport = new Map<string, number>();
  const prepare = {
    store: deps.store,
    catalog,
    logger,
    metrics: deps.metrics,
    options,
    dataRoots: deps.config.dataRoots,
    hub: new HubClient(options.hub),
    onProgress: (p: { dataset: string; file: string; bytes: number; totalBytes: number; cached: boolean; message: string }) => {
      if (!p.cached && p.totalBytes >= 0) {
        const before = lastReport.get(p.file) ?? 0;
        downloaded.inc({ service: "datasets" }, Math.max(0, p.bytes - before));
        lastReport.set(p.file, p.bytes);
      }
      logger.info({ dataset: p.dataset, file: p.file, bytes: p.bytes, totalBytes: p.totalBytes, cached: p.cached }, p.message);
    },
  };

  /** `id` is a version id (sha256) or a dataset name, which resolves to its latest version. */
  async function lookup(id: string) {
    if (id === "") throw ApiError.invalidArgument("id", "must not be empty");
    if (!isDatasetId(id)) {
      const latest = await catalog.latestId(validateName(id, "id"));
      if (!latest) throw ApiError.notFound("dataset", id);
      id = latest;
    }
    const v = await catalog.get(id);
    if (!v) throw ApiError.notFound("dataset version", id);
    return v;
  }

  return {
    name: DATASET_SERVICE_NAME,
    definition: DatasetServiceService,
    implementation: {
      prepareDataset: unary(ctx, "PrepareDataset", async (req: PrepareDatasetRequest): Promise<PrepareDatasetResponse> => {
        const params = resolvePrepareRequest(deps.store, req);
        return { dataset: await prepareDataset(prepare, params) };
      }),
      getDataset: unary(ctx, "GetDataset", async (req: GetDatasetRequest): Promise<GetDatasetResponse> => ({
        dataset: await lookup(req.id),
      })),
      listDatasets: unary(ctx, "ListDatasets", async (): Promise<ListDatasetsResponse> => ({ datasets: await catalog.list() })),
      getDatasetCard: unary(ctx, "GetDatasetCard", async (req: GetDatasetCardRequest): Promise<GetDatasetCardResponse> => {
        const v = await lookup(req.id);
        const prefix = `datasets/${v.id}`;
        const card = await loadDatasetCard(deps.store, prefix);
        const png = card.tokens ? await deps.store.get(`${prefix}/${card.tokens.histogramPng}`) : Buffer.alloc(0);
        return { cardJson: JSON.stringify(card), text: renderDatasetCard(card, card.tokens ? HISTOGRAM_FILE : ""), histogramPng: png };
      }),
    },
  };
}
