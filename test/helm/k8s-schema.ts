import * as k8s from "@kubernetes/client-node";
import type { Manifest } from "./helm.js";

/**
 * Validates a rendered manifest the way the API server would refuse it:
 * - built-in kinds against the Kubernetes OpenAPI schemas (kubernetes-models 4.x, ajv): types,
 *   required fields, enums;
 * - unknown fields (a misspelt key is silently dropped by a lenient client but refused by
 *   `kubectl apply --validate=strict`), by walking @kubernetes/client-node's model type maps;
 * - CRDs we render or ship (KEDA, Prometheus Operator, Kueue), whose schemas are not bundled here,
 *   for apiVersion/kind and the fields their controllers require.
 */
export async function validateManifest(m: Manifest): Promise<void> {
  const where = `${m.kind}/${m.metadata?.name ?? "?"}`;
  if (!m.apiVersion || !m.kind) throw new Error(`${where}: apiVersion and kind are required`);
  if (!m.metadata?.name) throw new Error(`${where}: metadata.name is required`);
  const crd = CRDS[`${m.apiVersion}/${m.kind}`];
  if (crd) return crd(m, where);

  const [group, version] = m.apiVersion.includes("/") ? m.apiVersion.split("/") : ["", m.apiVersion];
  const modPath = group ? `kubernetes-models/${group}/${version}/${m.kind}` : `kubernetes-models/${version}/${m.kind}`;
  let Model: { new (d: unknown): { validate(): void } };
  try {
    Model = ((await import(modPath)) as Record<string, any>)[m.kind];
  } catch {
    throw new Error(`${where}: unknown apiVersion/kind ${m.apiVersion} ${m.kind}`);
  }
  try {
    new Model(m).validate();
  } catch (err) {
    throw new Error(`${where}: schema: ${(err as Error).message}`);
  }
  const typeName = `${version!.charAt(0).toUpperCase()}${version!.slice(1)}${m.kind}`;
  checkUnknownFields(m, typeName, where);
}

type AttributeMap = { baseName: string; type: string }[];

function attributes(typeName: string): AttributeMap | undefined {
  const cls = (k8s as Record<string, any>)[typeName];
  return typeof cls?.getAttributeTypeMap === "function" ? (cls.getAttributeTypeMap() as AttributeMap) : undefined;
}

export function checkUnknownFields(value: unknown, type: string, path: string): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => checkUnknownFields(v, arr[1]!, `${path}[${i}]`));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value as object)) checkUnknownFields(v, map[1]!, `${path}.${k}`);
    return;
  }
  const attrs = attributes(type);
  if (!attrs || typeof value !== "object" || Array.isArray(value)) return;
  const known = new Map(attrs.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value as object)) {
    const t = known.get(k);
    if (!t) throw new Error(`${path}: unknown field "${k}" (not in ${type})`);
    checkUnknownFields(v, t, `${path}.${k}`);
  }
}

function need(cond: unknown, where: string, what: string): void {
  if (!cond) throw new Error(`${where}: ${what}`);
}

const isName = (s: unknown) => typeof s === "string" && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s) && s.length <= 253;

const CRDS: Record<string, (m: Manifest, where: string) => void> = {
  // https://keda.sh/docs/2.17/reference/scaledobject-spec/ and the nats-jetstream scaler's required metadata.
  "keda.sh/v1alpha1/ScaledObject": (m, w) => {
    need(isName(m.spec?.scaleTargetRef?.name), w, "spec.scaleTargetRef.name is required");
    need(Array.isArray(m.spec?.triggers) && m.spec.triggers.length > 0, w, "spec.triggers must not be empty");
    for (const key of ["minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"]) {
      if (m.spec[key] !== undefined) need(Number.isInteger(m.spec[key]) && m.spec[key] >= 0, w, `spec.${key} must be a non-negative integer`);
    }
    for (const t of m.spec.triggers) {
      need(typeof t.type === "string", w, "trigger.type is required");
      for (const [k, v] of Object.entries(t.metadata ?? {})) need(typeof v === "string", w, `trigger metadata ${k} must be a string`);
      if (t.type === "nats-jetstream") {
        for (const k of ["natsServerMonitoringEndpoint", "account", "stream", "consumer"]) need(t.metadata?.[k], w, `nats-jetstream trigger needs metadata.${k}`);
      }
    }
  },
  // https://cert-manager.io/docs/reference/api-docs/ (v1).
  "cert-manager.io/v1/Issuer": (m, w) => {
    need(m.spec?.selfSigned !== undefined || m.spec?.ca?.secretName || m.spec?.acme || m.spec?.vault, w, "spec needs one issuer type (selfSigned, ca.secretName, acme, vault)");
  },
  "cert-manager.io/v1/Certificate": (m, w) => {
    need(isName(m.spec?.secretName), w, "spec.secretName is required");
    need(isName(m.spec?.issuerRef?.name), w, "spec.issuerRef.name is required");
    need(m.spec.isCA || (Array.isArray(m.spec.dnsNames) && m.spec.dnsNames.length > 0), w, "spec.dnsNames must not be empty");
    for (const u of m.spec.usages ?? []) need(["server auth", "client auth", "digital signature", "key encipherment", "cert sign"].includes(u), w, `unknown usage ${u}`);
  },
  "monitoring.coreos.com/v1/ServiceMonitor": (m, w) => {
    need(m.spec?.selector && typeof m.spec.selector === "object", w, "spec.selector is required");
    need(Array.isArray(m.spec?.endpoints) && m.spec.endpoints.length > 0, w, "spec.endpoints must not be empty");
    for (const e of m.spec.endpoints) need(e.port || e.targetPort, w, "each endpoint needs port or targetPort");
  },
  // https://kueue.sigs.k8s.io/docs/concepts/ (v1beta1).
  "kueue.x-k8s.io/v1beta1/ResourceFlavor": (m, w) => {
    need(m.metadata.namespace === undefined, w, "ResourceFlavor is cluster-scoped (no metadata.namespace)");
    if (m.spec?.nodeLabels) for (const v of Object.values(m.spec.nodeLabels)) need(typeof v === "string", w, "spec.nodeLabels values must be strings");
  },
  "kueue.x-k8s.io/v1beta1/ClusterQueue": (m, w) => {
    need(m.metadata.namespace === undefined, w, "ClusterQueue is cluster-scoped (no metadata.namespace)");
    need(m.spec?.namespaceSelector !== undefined, w, "spec.namespaceSelector is required (use {} for all namespaces)");
    need(Array.isArray(m.spec?.resourceGroups) && m.spec.resourceGroups.length > 0, w, "spec.resourceGroups must not be empty");
    for (const g of m.spec.resourceGroups) {
      need(Array.isArray(g.coveredResources) && g.coveredResources.length > 0, w, "resourceGroups[].coveredResources is required");
      need(Array.isArray(g.flavors) && g.flavors.length > 0, w, "resourceGroups[].flavors is required");
      for (const f of g.flavors) {
        need(isName(f.name), w, "flavors[].name is required");
        const names = (f.resources ?? []).map((r: { name: string; nominalQuota: unknown }) => {
          need(r.nominalQuota !== undefined, w, `flavor ${f.name} resource ${r.name}: nominalQuota is required`);
          return r.name;
        });
        need(JSON.stringify([...names].sort()) === JSON.stringify([...g.coveredResources].sort()), w, `flavor ${f.name} must list exactly the coveredResources`);
      }
    }
  },
  "kueue.x-k8s.io/v1beta1/LocalQueue": (m, w) => {
    need(typeof m.metadata.namespace === "string", w, "LocalQueue is namespaced (metadata.namespace)");
    need(isName(m.spec?.clusterQueue), w, "spec.clusterQueue is required");
  },
};
