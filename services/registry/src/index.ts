// Public face of the registry service (so `mambalign up` can run it in-process).
import type { ServiceDeps, StartedService } from "@mambalign/core";
import { registryServiceBinding } from "./registry-service.js";

export { versionId, versionPrefix } from "./names.js";

/** The registry service: stateless handlers over the `adapters` KV bucket and the `adapters/` prefix. */
export async function startRegistryService(deps: ServiceDeps): Promise<StartedService> {
  return { name: "registry", bindings: [await registryServiceBinding(deps)], stop: async () => {} };
}
