// The evaluator's view of the registry: attach results to versions. Over gRPC in production.
import {
  type AdapterVersion,
  ApiError,
  callUnary,
  type ClientSecurity,
  createClient,
  type EvalResult,
  RegistryServiceClient,
} from "@mambalign/core";
export interface RegistryAccess {
  attachEval(versionId: string, result: EvalResult): Promise<AdapterVersion>;
  close(): void;
}

const DEADLINE_MS = 30_000;

/** RegistryService over gRPC at `address` (MAMBALIGN_REGISTRY_ADDR), as this service (its own token). */
export function grpcRegistryAccess(address: string, security?: ClientSecurity): RegistryAccess {
  const client = createClient(RegistryServiceClient, address, security);
  const present = (v: AdapterVersion | undefined, id: string, method: string): AdapterVersion => {
    if (!v) throw ApiError.unavailable(`registry ${method} for ${JSON.stringify(id)} answered without a version`);
    return v;
  };
  return {
    async attachEval(versionId, result) {
      const res = await callUnary(client.attachEval.bind(client), { versionId, result }, { deadlineMs: DEADLINE_MS });
      return present(res.version, versionId, "AttachEval");
    },
    close: () => client.close(),
  };
}
