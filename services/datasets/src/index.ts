// Public face of the datasets service (so `mambalign up` can run it in-process).
import type { ServiceDeps, StartedService } from "@mambalign/core";
import { datasetServiceBinding } from "./dataset-service.js";

export { DatasetCatalog, DATASETS_BUCKET } from "./dataset-catalog.js";
export { DATASET_PREFIX } from "./prepare-dataset.js";
export { DATASET_SERVICE_NAME } from "./dataset-service.js";
export { normaliseLine, normalisePreference, normaliseSft } from "./rows.js";

/** The datasets service: stateless handlers over the `datasets` KV bucket and the `datasets/` prefix. */
export async function startDatasetsService(deps: ServiceDeps): Promise<StartedService> {
  return { name: "datasets", bindings: [await datasetServiceBinding(deps)], stop: async () => {} };
}
