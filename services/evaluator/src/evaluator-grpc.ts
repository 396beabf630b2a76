// EvaluatorService: reads evaluations recorded in the `evals` KV bucket.
import {
  ApiError,
  type Evaluation,
  EvaluatorServiceService,
  type EvaluatorServiceServer,
  type HandlerContext,
  type ObjectStore,
  type ProtoKv,
  type ServiceBinding,
  unary,
} from "@mambalign/core";

const ID_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** The KV key limit of NATS: a longer id names no evaluation and must not reach the bucket. */
const MAX_ID_LENGTH = 1024;

export function evaluatorServiceBinding(ctx: HandlerContext, evals: ProtoKv<Evaluation>, store: ObjectStore): ServiceBinding {
  const implementation: EvaluatorServiceServer = {
    getEvaluation: unary(ctx, "GetEvaluation", async (req) => {
      if (!req.id) throw ApiError.invalidArgument("id", "required");
      if (req.id.length > MAX_ID_LENGTH || !ID_RE.test(req.id)) throw ApiError.invalidArgument("id", `${JSON.stringify(req.id)} is not an evaluation id`);
      const found = await evals.get(req.id);
      if (!found) throw ApiError.notFound("evaluation", req.id);
      // results.json lives under the evaluator's own prefix: clients get it here, never from the bucket.
      const resultsJson = req.includeResults ? (await store.get(found.value.resultsKey)).toString("utf8") : "";
      return { evaluation: found.value, resultsJson };
    }),
    listEvaluations: unary(ctx, "ListEvaluations", async (req) => {
      // Few evaluations per deployment; a scan keeps the bucket free of secondary index keys.
      const all = await evals.values();
      const evaluations = all
        .filter((e) => !req.versionId || e.versionId === req.versionId)
        .sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
      return { evaluations };
    }),
  };
  return { name: "mambalign.v1.EvaluatorService", definition: EvaluatorServiceService, implementation };
}
