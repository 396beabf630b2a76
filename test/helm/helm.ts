import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CHART = path.join(REPO, "charts/mambalign");

/** $HELM_BIN, else <repo>/.cache/bin/helm (scripts/helm.sh install), else helm on PATH. */
export function helmBin(): string {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  const local = path.join(REPO, ".cache/bin/helm");
  return existsSync(local) ? local : "helm";
}

export interface HelmResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  try {
    const stdout = execFileSync(helmBin(), args, { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { ok: true, stdout, stderr: "" };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: e.stdout ?? "", stderr: e.stderr ?? e.message };
  }
}

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; [k: string]: any }; [k: string]: any };

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
      return d.toJS() as Manifest | null;
    })
    .filter((d): d is Manifest => d !== null);
}

/** `helm template` with --set pairs; throws with helm's message when rendering fails. */
export function render(set: Record<string, string | number | boolean> = {}, release = "r1", namespace = "ml"): Manifest[] {
  const args = ["template", release, CHART, "--namespace", namespace];
  for (const [k, v] of Object.entries(set)) args.push("--set", `${k}=${v}`);
  const r = helm(args);
  if (!r.ok) throw new Error(`helm template failed: ${r.stderr.trim()}`);
  return parseManifests(r.stdout);
}
