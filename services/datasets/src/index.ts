// Public face of the datasets service (so `mambalign up` can run it in-process).
import type { ServiceDeps, StartedService } from "@mambalign/core";
import { datasetServiceBinding } from "./dataset-service.js";
import { type DatasetsOptions, datasetsOptionsFromEnv } from "./datasets-options.js";

export { DatasetCatalog, DATASETS_BUCKET } from "./dataset-catalog.js";
export { DATASET_PREFIX } from "./prepare-dataset.js";
export { DATASET_SERVICE_NAME } from "./dataset-service.js";
export { normaliseLine, normalisePreference, normaliseRecord, normaliseSft } from "./rows.js";
export { type DatasetsOptions, datasetsOptionsFromEnv, DEFAULT_SPLITS, hubOptionsFromEnv, type TokenizeOptions } from "./datasets-options.js";
export {
  CARD_FILE,
  type DatasetCard,
  HISTOGRAM_FILE,
  loadDatasetCard,
  renderDatasetCard,
  showDatasetCard,
} from "./dataset-card.js";
export { CACHE_PREFIX } from "./hub-source.js";
export { type DownloadProgress, HubClient, type HubOptions, parseHubId } from "./hub-client.js";

/**
 * The datasets service: stateless handlers over the `datasets` KV bucket and the `datasets/`
 * prefix. `options` override the environment's settings (datasetsOptionsFromEnv).
 */
export async function startDatasetsService(deps: ServiceDeps, options?: Partial<DatasetsOptions>): Promise<StartedService> {
  const resolved = { ...datasetsOptionsFromEnv(), ...options };
  return { name: "datasets", bindings: [await datasetServiceBinding(deps, resolved)], stop: async () => {} };
}
