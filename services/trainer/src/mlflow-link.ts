// Links the MLflow run of a stage (recipe report_to "mlflow"; the runtime reports the run's id and server in its
// `started` event) to the registry version the stage produced, once that version exists: tags on the run,
// through MLflow's REST API (POST /api/2.0/mlflow/runs/set-tag).
import type { MlflowAuth } from "./trainer-options.js";

const TIMEOUT_MS = 15_000;

export interface RegisteredVersion {
  id: string;
  uri: string;
}

/** The tags a run gets: the registry version id ("<name>/v<n>") and where its files are. */
export function registryTags(version: RegisteredVersion): Record<string, string> {
  return { "mambalign.registry.version": version.id, "mambalign.registry.uri": version.uri };
}

export async function tagMlflowRun(trackingUri: string, runId: string, tags: Record<string, string>, auth: MlflowAuth): Promise<void> {
  const base = new URL(trackingUri);
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new Error(`tracking URI ${base.protocol}... is not an MLflow server (http or https)`);
  }
  const url = new URL(`${base.pathname.replace(/\/$/, "")}/api/2.0/mlflow/runs/set-tag`, base);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (auth && "token" in auth) headers["authorization"] = `Bearer ${auth.token}`;
  else if (auth) headers["authorization"] = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
  for (const [key, value] of Object.entries(tags)) {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ run_id: runId, key, value }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!res.ok) {
      // The server's answer, bounded: it names the run or the field at fault.
      const text = (await res.text().catch(() => "")).slice(0, 300);
      throw new Error(`MLflow answered ${res.status} to set-tag ${key}: ${text}`);
    }
  }
}
