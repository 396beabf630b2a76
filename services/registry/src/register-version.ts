// RegisterVersion: copy a complete artifact from our store into adapters/<name>/v<N>/ (manifest
// last) and record an immutable version with its lineage. Idempotent by (name, content, lineage):
// a retried registration gets its version back; the same bytes from another run or parent get a
// new version recording that lineage (as MLflow or the Hub record every registration).
import { status } from "@grpc/grpc-js";
import {
  AdapterVersion,
  ApiError,
  ArtifactKind,
  artifactKindToJSON,
  copyPrefixWithManifest,
  locatePrefix,
  type Manifest,
  type Metrics,
  type ObjectStore,
  readManifest,
  type RegisterVersionRequest,
  sha256Hex,
  Stage,
  StoreError,
  validateName,
} from "@mambalign/core";
import type { Logger } from "pino";
import { canonicalManifestSha, detectLayout } from "./artifact-layout.js";
import { parseVersionId, versionId, versionPrefix } from "./names.js";
import type { RegistryCatalog } from "./registry-catalog.js";

export interface RegistryContext {
  store: ObjectStore;
  catalog: RegistryCatalog;
  logger: Logger;
  metrics: Metrics;
}

const RUN_ID_RE = /^[A-Za-z0-9_-]{1,200}$/;
const DATASET_ID_RE = /^[0-9a-f]{64}$/;

export function checkMetrics(metrics: Record<string, number>, field: string): void {
  for (const [k, v] of Object.entries(metrics)) {
    if (k === "") throw ApiError.invalidArgument(field, "metric names must not be empty");
    if (!Number.isFinite(v)) throw ApiError.invalidArgument(`${field}.${k}`, `must be a finite number, got ${v}`);
  }
}

async function checkRequest(ctx: RegistryContext, req: RegisterVersionRequest): Promise<void> {
  validateName(req.name);
  if (!(req.kind in ArtifactKind) || req.kind < 0) throw ApiError.invalidArgument("kind", `unknown artifact kind ${req.kind}`);
  if (!(req.stage in Stage) || req.stage < 0) throw ApiError.invalidArgument("stage", `unknown stage ${req.stage}`);
  if (req.runId !== "" && !RUN_ID_RE.test(req.runId)) {
    throw ApiError.invalidArgument("run_id", `invalid run id ${JSON.stringify(req.runId)}: use 1-200 of A-Z a-z 0-9 _ -`);
  }
  req.datasets.forEach((d, i) => {
    if (!DATASET_ID_RE.test(d)) throw ApiError.invalidArgument(`datasets[${i}]`, `${JSON.stringify(d)} is not a dataset version id (sha256)`);
  });
  checkMetrics(req.metrics, "metrics");
  if (req.parent !== "") {
    const p = parseVersionId(req.parent, "parent");
    if (!(await ctx.catalog.get(p.name, p.version))) {
      throw ApiError.invalidArgument("parent", `version ${req.parent} does not exist`, { key: req.parent });
    }
  }
}

async function readSource(store: ObjectStore, prefix: string, uri: string): Promise<Manifest> {
  let manifest: Manifest | null;
  try {
    manifest = await readManifest(store, prefix);
  } catch (err) {
    if (err instanceof StoreError && !err.retryable) {
      throw ApiError.failedPrecondition(`source_uri ${uri}: ${err.message}`, { field: "source_uri", key: uri });
    }
    throw err;
  }
  if (!manifest) {
    throw ApiError.failedPrecondition(`source_uri ${uri} is not complete: it has no ${prefix}/manifest.json (still uploading, or not an artifact)`, {
      field: "source_uri",
      key: uri,
    });
  }
  return manifest;
}

/**
 * What makes two registrations one: the content and where it came from (run, parent, base model).
 * A merge that reproduces bytes already registered by another run must still record THIS run's
 * parent, or the next stage's lineage would point at the other run's versions.
 */
function registrationKey(contentSha: string, req: RegisterVersionRequest): string {
  return sha256Hex(JSON.stringify([contentSha, req.runId, req.parent, req.baseModel?.uri ?? "", req.baseModel?.revision ?? ""]));
}

export async function registerVersion(ctx: RegistryContext, req: RegisterVersionRequest): Promise<AdapterVersion> {
  await checkRequest(ctx, req);
  const src = locatePrefix(ctx.store, req.sourceUri, "source_uri");
  const manifest = await readSource(ctx.store, src, req.sourceUri);
  const layout = detectLayout(manifest.files.map((f) => f.path));
  if (!layout) {
    throw ApiError.failedPrecondition(
      `source_uri ${req.sourceUri} holds neither a PEFT adapter (adapter_config.json + adapter_model.safetensors) nor a model (config.json + weights), at its root or in adapter/ or model/`,
      { field: "source_uri", key: req.sourceUri },
    );
  }
  if (req.kind !== ArtifactKind.ARTIFACT_KIND_UNSPECIFIED && req.kind !== layout.kind) {
    throw ApiError.invalidArgument("kind", `is ${artifactKindToJSON(req.kind)} but ${req.sourceUri} holds an ${artifactKindToJSON(layout.kind)}`);
  }
  const sha = canonicalManifestSha(manifest.files);
  const { version, existing } = await ctx.catalog.reserve(req.name, registrationKey(sha, req));
  if (existing) {
    const found = await ctx.catalog.get(req.name, version);
    if (found) {
      ctx.logger.info({ id: found.value.id, source: req.sourceUri }, "registration already recorded (same content, run and parent); returning its version");
      return found.value;
    }
    // Reserved by a registration still running (or one that died before recording it):
    // finishing it is idempotent, whoever gets there first.
  }
  const id = versionId(req.name, version);
  const dst = versionPrefix(req.name, version);
  const copied = await copyPrefixWithManifest(ctx.store, src, dst);
  if (canonicalManifestSha(copied.manifest.files) !== sha) {
    throw new ApiError(status.ABORTED, `${dst}/ holds other files than ${req.sourceUri}; refusing to record ${id}`);
  }
  const record = await ctx.catalog.create(
    AdapterVersion.fromPartial({
      id,
      name: req.name,
      version,
      kind: layout.kind,
      stage: req.stage,
      baseModel: req.baseModel,
      parent: req.parent,
      runId: req.runId,
      uri: `${ctx.store.uri(dst)}/`,
      manifest: manifest.files.map((f) => ({ path: f.path, sha256: f.sha256, size: BigInt(f.size) })),
      manifestSha256: sha,
      metrics: req.metrics,
      evals: [],
      aliases: [],
      createdAt: new Date(),
      datasets: req.datasets,
    }),
  );
  await ctx.catalog.moveLatest(req.name, version);
  ctx.metrics
    .counter("mambalign_registry_versions_total", "versions registered, by artifact kind", ["service", "kind"])
    .inc({ service: "registry", kind: artifactKindToJSON(layout.kind) });
  ctx.metrics
    .counter("mambalign_registry_bytes_copied_total", "artifact bytes copied into the registry", ["service"])
    .inc({ service: "registry" }, manifest.files.reduce((n, f) => n + f.size, 0));
  ctx.logger.info({ id, source: req.sourceUri, files: manifest.files.length, sha }, "version registered");
  return record;
}
