// Who may call what: one table, method by method, for every RPC in proto/ (roles.test.ts fails when an
// RPC is missing). Roles are ordered: an operator may do all a viewer may, an admin all an operator may.
//   viewer   — reads: get, list, watch, logs; checking a recipe (no side effect).
//   operator — changes that runs and their results are made of: start, cancel, alias; and the writes the
//              services make of each other (prepare a dataset, register a version, attach an evaluation),
//              so service tokens are operators and never admins.
//   admin    — destructive or outbound: delete, export, quotas; downloading an adapter's files is an
//              export (the weights leave the cluster), so it is admin too.

/** A principal's role. */
export type Role = "viewer" | "operator" | "admin";

export const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether a principal holding `have` may do what needs `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && Object.hasOwn(RANK, value);
}

/** The role each RPC needs, by gRPC method path without the leading "/" ("package.Service/Method"). */
export const METHOD_ROLES: Readonly<Record<string, Role>> = Object.freeze({
  "mambalign.v1.PipelineService/StartRun": "operator",
  "mambalign.v1.PipelineService/GetRun": "viewer",
  "mambalign.v1.PipelineService/ListRuns": "viewer",
  "mambalign.v1.PipelineService/CancelRun": "operator",
  "mambalign.v1.PipelineService/WatchRun": "viewer",
  "mambalign.v1.PipelineService/CheckRecipe": "viewer",

  "mambalign.v1.DatasetService/PrepareDataset": "operator",
  "mambalign.v1.DatasetService/GetDataset": "viewer",
  "mambalign.v1.DatasetService/ListDatasets": "viewer",
  "mambalign.v1.DatasetService/GetDatasetCard": "viewer",

  "mambalign.v1.TrainerService/GetWorker": "viewer",
  "mambalign.v1.TrainerService/ListCheckpoints": "viewer",

  "mambalign.v1.RegistryService/RegisterVersion": "operator",
  "mambalign.v1.RegistryService/GetVersion": "viewer",
  "mambalign.v1.RegistryService/ListVersions": "viewer",
  "mambalign.v1.RegistryService/SetAlias": "operator",
  "mambalign.v1.RegistryService/ResolveAlias": "viewer",
  "mambalign.v1.RegistryService/AttachEval": "operator",
  "mambalign.v1.RegistryService/ExportVersion": "admin",
  "mambalign.v1.RegistryService/DownloadVersion": "admin",

  "mambalign.v1.EvaluatorService/GetEvaluation": "viewer",
  "mambalign.v1.EvaluatorService/ListEvaluations": "viewer",
});

/**
 * Services open to anyone: the standard health service (kubelet and load-balancer probes carry no
 * token, and it tells nothing but SERVING) and server reflection (the schema of proto/, which is
 * public; grpcurl needs it before it can send a token-bearing call). Neither reads or changes data.
 */
export const OPEN_SERVICES: readonly string[] = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

/** "package.Service/Method" from a gRPC path "/package.Service/Method". */
export function methodKey(path: string): string {
  return path.startsWith("/") ? path.slice(1) : path;
}

/** Whether the path belongs to one of OPEN_SERVICES. */
export function isOpenMethod(path: string): boolean {
  const service = methodKey(path).split("/")[0]!;
  return OPEN_SERVICES.includes(service);
}

/** The role `path` needs; undefined for a method not in the table (callers refuse it: fail closed). */
export function roleFor(path: string, table: Readonly<Record<string, Role>> = METHOD_ROLES): Role | undefined {
  const key = methodKey(path);
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
