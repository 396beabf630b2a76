// gRPC face of the registry: versions, aliases, evals and export.
import { status } from "@grpc/grpc-js";
import {
  type AdapterVersion,
  type Alias,
  ApiError,
  type AttachEvalRequest,
  type DownloadVersionRequest,
  type DownloadVersionResponse,
  type ExportVersionRequest,
  type GetVersionRequest,
  type HandlerContext,
  type ListVersionsRequest,
  RegistryServiceService,
  type RegisterVersionRequest,
  type ResolveAliasRequest,
  type ServiceBinding,
  type ServiceDeps,
  type SetAliasRequest,
  serverStream,
  unary,
  validateKey,
  validateName,
} from "@mambalign/core";
import { downloadVersion } from "./download-version.js";
import { exportVersion } from "./export-version.js";
import { LATEST, parseVersionId, validateAlias } from "./names.js";
import { RegistryCatalog } from "./registry-catalog.js";
import { checkMetrics, registerVersion } from "./register-version.js";

export const REGISTRY_SERVICE_NAME = "mambalign.v1.RegistryService";
const EVAL_ID_RE = /^[A-Za-z0-9._-]{1,200}$/;

export async function registryServiceBinding(deps: ServiceDeps): Promise<ServiceBinding> {
  const catalog = await RegistryCatalog.open(deps.bus);
  const logger = deps.logger.child({ service: "registry" });
  const hctx: HandlerContext = { service: "registry", logger, metrics: deps.metrics };
  const rctx = { store: deps.store, catalog, logger, metrics: deps.metrics };

  /** Versions carry the aliases pointing at them, read live (aliases move; records do not). */
  async function withAliases(versions: AdapterVersion[], name?: string): Promise<AdapterVersion[]> {
    const aliases = await catalog.listAliases(name);
    return versions.map((v) => ({ ...v, aliases: aliases.filter((a) => a.versionId === v.id).map((a) => a.alias).sort() }));
  }

  async function byAlias(name: string, alias: string): Promise<AdapterVersion> {
    const a = await catalog.getAlias(name, alias);
    if (!a) throw ApiError.notFound("alias", `${name}@${alias}`);
    return byId(a.versionId);
  }

  async function byId(id: string, field = "id"): Promise<AdapterVersion> {
    const { name, version } = parseVersionId(id, field);
    const found = await catalog.get(name, version);
    if (!found) throw ApiError.notFound("version", id);
    return (await withAliases([found.value], name))[0] as AdapterVersion;
  }

  /** `<name>/v<N>`, `<name>@<alias>`, or `<name>` (its latest version). */
  async function lookup(id: string): Promise<AdapterVersion> {
    if (id === "") throw ApiError.invalidArgument("id", "must not be empty");
    if (id.includes("/")) return byId(id);
    const [name, alias] = id.split("@", 2) as [string, string | undefined];
    if (alias === undefined) {
      // A bare word: the user means a registry name (its latest version); never talk of an alias they did not type.
      const latest = await catalog.getAlias(validateName(name, "id"), LATEST);
      if (!latest) {
        throw new ApiError(status.NOT_FOUND, `no adapter or alias named ${JSON.stringify(name)} (ids look like name/v3, name@alias or name)`, { key: id });
      }
      return byId(latest.versionId);
    }
    return byAlias(validateName(name, "id"), validateName(alias, "id"));
  }

  return {
    name: REGISTRY_SERVICE_NAME,
    definition: RegistryServiceService,
    implementation: {
      registerVersion: unary(hctx, "RegisterVersion", async (req: RegisterVersionRequest) => {
        const v = await registerVersion(rctx, req);
        return { version: (await withAliases([v], v.name))[0] };
      }),
      getVersion: unary(hctx, "GetVersion", async (req: GetVersionRequest) => ({ version: await lookup(req.id) })),
      listVersions: unary(hctx, "ListVersions", async (req: ListVersionsRequest) => {
        const name = req.name === "" ? undefined : validateName(req.name);
        return { versions: await withAliases(await catalog.list(name), name) };
      }),
      setAlias: unary(hctx, "SetAlias", async (req: SetAliasRequest) => {
        validateName(req.name);
        validateAlias(req.alias);
        if (req.alias === LATEST) throw ApiError.invalidArgument("alias", `"${LATEST}" is moved by the registry on every registration`);
        const target = parseVersionId(req.versionId, "version_id");
        if (target.name !== req.name) {
          throw ApiError.invalidArgument("version_id", `${req.versionId} is not a version of ${req.name}`);
        }
        if (!(await catalog.get(target.name, target.version))) throw ApiError.notFound("version", req.versionId);
        const alias: Alias = { name: req.name, alias: req.alias, versionId: req.versionId };
        await catalog.setAlias(alias);
        logger.info({ ...alias }, "alias moved");
        return { alias };
      }),
      resolveAlias: unary(hctx, "ResolveAlias", async (req: ResolveAliasRequest) => ({
        version: await byAlias(validateName(req.name), validateName(req.alias, "alias")),
      })),
      attachEval: unary(hctx, "AttachEval", async (req: AttachEvalRequest) => {
        const { name, version } = parseVersionId(req.versionId, "version_id");
        const r = req.result;
        if (!r) throw ApiError.invalidArgument("result", "required");
        if (!EVAL_ID_RE.test(r.evalId)) throw ApiError.invalidArgument("result.eval_id", `invalid eval id ${JSON.stringify(r.evalId)}`);
        checkMetrics(r.metrics, "result.metrics");
        if (r.reportKey !== "") validateKey(r.reportKey, "result.report_key");
        const result = { ...r, createdAt: r.createdAt ?? new Date() };
        // Evals are the one mutation: appended (one entry per eval id, so a retried attach does
        // not duplicate) and their metrics merged; files, manifest and lineage never change.
        const updated = await catalog.modify(name, version, (v) => ({
          ...v,
          evals: [...v.evals.filter((e) => e.evalId !== r.evalId), result],
          metrics: { ...v.metrics, ...r.metrics },
        }));
        logger.info({ id: updated.id, evalId: r.evalId }, "eval attached");
        return { version: (await withAliases([updated], name))[0] };
      }),
      exportVersion: unary(hctx, "ExportVersion", async (req: ExportVersionRequest) => {
        const v = await lookup(req.id);
        const out = await exportVersion(deps.store, deps.config.exportRoots, v, req.destination);
        deps.metrics.counter("mambalign_registry_exports_total", "versions exported", ["service"]).inc({ service: "registry" });
        logger.info({ id: v.id, destination: out.destination, files: out.files.length }, "version exported");
        return out;
      }),
      downloadVersion: serverStream<DownloadVersionRequest, DownloadVersionResponse>(hctx, "DownloadVersion", async function* (req, signal) {
        yield* downloadVersion(deps.store, await lookup(req.id), signal);
      }),
    },
  };
}
