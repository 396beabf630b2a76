// Public face of the datasets service (so `mambalign up` can run it in-process).
import type { ServiceDeps, StartedService } from "@mambalign/core";
import { datasetServiceBinding } from "./dataset-service.js";
import { type DatasetsOptions, datasetsOptionsFromEnv } from "./datasets-options.js";

export { type DatasetsOptions, datasetsOptionsFromEnv, hubOptionsFromEnv } from "./datasets-options.js";
export {
  CARD_FILE,
  type DatasetCard,
  HISTOGRAM_FILE,
  loadDatasetCard,
  renderDatasetCard,
  showDatasetCard,
} from "./dataset-card.js";
export { HubClient, type HubOptions, parseHubId } from "./hub-client.js";

/**
 * The datasets service: stateless handlers over the `datasets` KV bucket and the `datasets/`
 * prefix. `options` override the environment's settings (datasetsOptionsFromEnv).
 */
export async function startDatasetsService(deps: ServiceDeps, options?: Partial<DatasetsOptions>): Promise<StartedService> {
  const resolved = { ...datasetsOptionsFromEnv(), ...options };
  return { name: "datasets", bindings: [await datasetServiceBinding(deps, resolved)], stop: async () => {} };
}
