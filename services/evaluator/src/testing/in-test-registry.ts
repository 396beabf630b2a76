// A small in-test RegistryService over real gRPC (GetVersion, AttachEval), for evaluator tests while
// the registry service is built elsewhere. Versions are added directly; other methods answer UNIMPLEMENTED.
import {
  type AdapterVersion,
  ApiError,
  type HandlerContext,
  RegistryServiceService,
  type ServiceBinding,
  unary,
} from "@mambalign/core";

export class InTestRegistryService {
  readonly versions = new Map<string, AdapterVersion>();
  attachCalls = 0;

  add(version: AdapterVersion): void {
    this.versions.set(version.id, version);
  }

  binding(ctx: HandlerContext): ServiceBinding {
    const get = (id: string) => {
      const v = this.versions.get(id);
      if (!v) throw ApiError.notFound("version", id);
      return v;
    };
    return {
      name: "mambalign.v1.RegistryService",
      definition: RegistryServiceService,
      implementation: {
        getVersion: unary(ctx, "GetVersion", async (req: { id: string }) => ({ version: get(req.id) })),
        attachEval: unary(ctx, "AttachEval", async (req: { versionId: string; result?: AdapterVersion["evals"][number] }) => {
          const v = get(req.versionId);
          if (!req.result?.evalId) throw ApiError.invalidArgument("result.evalId", "required");
          this.attachCalls++;
          // Keyed by eval id, as the real registry promises: a re-attach replaces.
          const evals = [...v.evals.filter((e) => e.evalId !== req.result!.evalId), req.result];
          const updated = { ...v, evals, metrics: { ...v.metrics, ...req.result.metrics } };
          this.versions.set(v.id, updated);
          return { version: updated };
        }),
      },
    };
  }
}
