// Registry versions as the CLI shows them: each with its lineage (parent chain down to the base model).
import { type AdapterVersion, ArtifactKind, stageName } from "@mambalign/core";
import { fmtNumber } from "./run-format.js";
import { textTable } from "./text-table.js";

export function kindName(k: ArtifactKind): string {
  return (ArtifactKind[k] ?? "UNKNOWN").replace("ARTIFACT_KIND_", "").toLowerCase();
}

/** "demo-sft-merged/v1 <- demo-sft/v1 <- preset:tiny-mamba-char": parents from `byId`, then the base model. */
export function lineage(v: AdapterVersion, byId: ReadonlyMap<string, AdapterVersion>): string {
  const chain: string[] = [];
  const seen = new Set<string>([v.id]);
  let parent = v.parent;
  while (parent && !seen.has(parent)) {
    chain.push(parent);
    seen.add(parent);
    parent = byId.get(parent)?.parent ?? "";
  }
  const base = v.baseModel?.uri ?? "";
  return [...chain, base ? `${base}${v.baseModel?.revision ? `@${v.baseModel.revision}` : ""}` : "(no base model)"].join(" <- ");
}

export function versionsTable(versions: AdapterVersion[]): string {
  const byId = new Map(versions.map((v) => [v.id, v]));
  const sorted = [...versions].sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0) || a.id.localeCompare(b.id));
  return textTable(
    ["VERSION", "KIND", "STAGE", "RUN", "ALIASES", "LINEAGE (parent <- ... <- base model)"],
    sorted.map((v) => [v.id, kindName(v.kind), stageName(v.stage), v.runId, v.aliases.join(",") || "-", lineage(v, byId)]),
  );
}

export function versionDetails(v: AdapterVersion, byId: ReadonlyMap<string, AdapterVersion>): string {
  const lines = [
    `version    ${v.id}`,
    `kind       ${kindName(v.kind)} (stage ${stageName(v.stage)})`,
    `lineage    ${v.id} <- ${lineage(v, byId)}`,
    `run        ${v.runId || "-"}`,
    `uri        ${v.uri}`,
    `aliases    ${v.aliases.join(", ") || "-"}`,
    `datasets   ${v.datasets.join(", ") || "-"}`,
    `created    ${v.createdAt?.toISOString() ?? ""}`,
    `manifest   sha256 ${v.manifestSha256}`,
    ...v.manifest.map((m) => `  ${m.path}  ${m.size} bytes  ${m.sha256.slice(0, 16)}…`),
  ];
  const metrics = Object.entries(v.metrics).sort(([a], [b]) => a.localeCompare(b));
  if (metrics.length) lines.push("metrics", ...metrics.map(([k, x]) => `  ${k} = ${fmtNumber(x)}`));
  for (const e of v.evals) {
    lines.push(`evaluation ${e.evalId} (${e.createdAt?.toISOString() ?? ""}) report ${e.reportKey}`);
    for (const [k, x] of Object.entries(e.metrics).sort(([a], [b]) => a.localeCompare(b))) lines.push(`  ${k} = ${fmtNumber(x)}`);
  }
  return lines.join("\n");
}

/** "3", "v3" or "name/v3" -> "name/v3". */
export function versionRef(name: string, ref: string): string {
  if (ref.includes("/")) return ref;
  const n = ref.replace(/^v/, "");
  return `${name}/v${n}`;
}
