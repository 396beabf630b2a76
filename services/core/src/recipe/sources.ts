// Where models and datasets come from: Hub ids, s3:// URIs, local paths, built-in presets.
import { existsSync } from "node:fs";
import path from "node:path";
import type { IssueList } from "./issues.js";

export const KNOWN_PRESETS = ["tiny-mamba-char"] as const;

// "org/name", optionally "@revision" (branch, tag or commit).
const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?(@[A-Za-z0-9][A-Za-z0-9._\/-]*)?$/;
const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/(.*))?$/;
const DATA_FILE = /\.(jsonl|json|parquet)$/i;

export type SourceKind = "hub" | "s3" | "local" | "preset";

export function isHubId(s: string): boolean {
  return s.length <= 96 && HUB_ID.test(s) && !s.includes("--") && !s.includes("..");
}

function explicitLocal(s: string): boolean {
  return s === "." || s === ".." || s.startsWith("/") || s.startsWith("./") || s.startsWith("../");
}

/** Checks an s3:// URI with the object-key rules of the store (no "..", no empty segment). */
function checkS3(uri: string, key: string, issues: IssueList, needObject: boolean): boolean {
  const m = S3_URI.exec(uri);
  if (!m) {
    issues.fatal(key, `"${uri}" is not an s3://bucket/key URI (bucket: 3-63 lower-case letters, digits, dots, dashes)`);
    return false;
  }
  const objectKey = (m[3] ?? "").replace(/\/$/, "");
  if (needObject && objectKey === "") {
    issues.fatal(key, `"${uri}" names a bucket but no object`);
    return false;
  }
  if (objectKey !== "" && (objectKey.split("/").some((seg) => seg === "" || seg === "." || seg === "..") || /[\\\u0000-\u001f]/.test(objectKey))) {
    issues.fatal(key, `"${uri}" has an unsafe object key (empty, "." or ".." segment, backslash or control character)`);
    return false;
  }
  return true;
}

/** Makes a local path absolute against baseDir; without baseDir a relative path is kept and flagged. */
function localPath(p: string, key: string, baseDir: string | undefined, issues: IssueList): string | undefined {
  if (p.startsWith("~")) {
    issues.fatal(key, `"${p}": "~" is not expanded; use an absolute path or one relative to the recipe file`);
    return undefined;
  }
  if (path.isAbsolute(p)) return path.normalize(p);
  if (baseDir !== undefined) return path.resolve(baseDir, p);
  issues.warn(key, `relative path "${p}" kept as given: no base directory was supplied to resolve it against`);
  return p;
}

export interface ModelSource {
  uri: string;
  kind: SourceKind;
}

/** Classifies model_name_or_path; undefined (with a fatal issue) when it is none of the four forms. */
export function resolveModel(raw: string, key: string, baseDir: string | undefined, issues: IssueList): ModelSource | undefined {
  const s = raw.trim();
  if (s.startsWith("preset:")) {
    const name = s.slice("preset:".length);
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
      issues.fatal(key, `"${s}": a preset name is lower-case letters, digits and dashes`);
      return undefined;
    }
    if (!(KNOWN_PRESETS as readonly string[]).includes(name)) {
      issues.warn(key, `preset "${name}" is not one this version knows (${KNOWN_PRESETS.join(", ")}); the runtime will reject it if it is missing there too`);
    }
    return { uri: s, kind: "preset" };
  }
  if (s.startsWith("s3://")) return checkS3(s, key, issues, false) ? { uri: s, kind: "s3" } : undefined;
  // transformers looks for a local directory first, so a Hub-shaped name that exists beside the recipe is local.
  if (explicitLocal(s) || s.startsWith("~") || (baseDir !== undefined && isHubId(s) && existsSync(path.resolve(baseDir, s)))) {
    const p = localPath(s, key, baseDir, issues);
    return p === undefined ? undefined : { uri: p, kind: "local" };
  }
  if (isHubId(s)) return { uri: s, kind: "hub" };
  issues.fatal(key, `"${s}" is not a Hub id (org/name), an s3:// URI, a local path (./, ../ or /) or preset:<name>`);
  return undefined;
}

/** A `datasets:` entry: a local path or an s3:// URI of a JSONL file or prefix. */
export function resolveDatasetSource(raw: string, key: string, baseDir: string | undefined, issues: IssueList): string | undefined {
  const s = raw.trim();
  if (s === "") {
    issues.fatal(key, "must not be empty");
    return undefined;
  }
  if (s.startsWith("s3://")) return checkS3(s, key, issues, true) ? s : undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    issues.fatal(key, `"${s}": only local paths and s3:// URIs are supported`);
    return undefined;
  }
  return localPath(s, key, baseDir, issues);
}

/** A dataset_mixer name that is itself a path or URI (not a Hub dataset id). */
export function looksLikeDatasetSource(name: string): boolean {
  return name.startsWith("s3://") || explicitLocal(name) || name.startsWith("~") || DATA_FILE.test(name);
}

/** Checks a dataset_mixer name that is neither in `datasets:` nor a path: it must be a Hub id. */
export function checkHubDataset(name: string, key: string, issues: IssueList): void {
  // Hub datasets are named org/name; a bare word is almost always a typo of a datasets: entry.
  if (!isHubId(name) || !name.split("@")[0]!.includes("/")) {
    issues.fatal(
      key,
      `unknown dataset "${name}": not a name under datasets:, a path (./, ../ or /), an s3:// URI or a Hub dataset id (org/name)`,
    );
  }
}

/** Mamba checkpoints by name (state-spaces/mamba-*, falcon-mamba, ...) and our presets. */
export function isMambaModel(m: ModelSource): boolean {
  return m.kind === "preset" || /mamba/i.test(m.uri);
}

/** A model whose name says it was already instruction-tuned (what DPO should start from). */
export function looksInstructionTuned(uri: string): boolean {
  return /(sft|chat|instruct|zephyr|dpo|tulu|hermes|(^|[-_/])it($|[-_]))/i.test(uri);
}
