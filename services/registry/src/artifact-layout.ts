// What an artifact's files are: a PEFT adapter or a full model, at the prefix root or in the
// `adapter/` or `model/` folder of a trainer checkpoint (next to optimizer and trainer state).
import { ArtifactKind, type ManifestFile, sha256Hex } from "@mambalign/core";

export interface WeightsLayout {
  kind: ArtifactKind.ARTIFACT_KIND_ADAPTER | ArtifactKind.ARTIFACT_KIND_MODEL;
  /** "" or a folder ending in "/". */
  root: string;
}

const ROOTS = ["", "adapter/", "model/"];
// Training state a checkpoint carries that is not part of the exported model directory.
const TRAINING_STATE = /^(optimizer\.pt|scheduler\.pt|rng(_state.*)?\.pth?|trainer_state\.json|training_args\.bin|spec\.json|ref_logps.*\.pt)$/;

export function detectLayout(paths: readonly string[]): WeightsLayout | null {
  const has = new Set(paths);
  for (const root of ROOTS) {
    if (has.has(`${root}adapter_config.json`) && (has.has(`${root}adapter_model.safetensors`) || has.has(`${root}adapter_model.bin`))) {
      return { kind: ArtifactKind.ARTIFACT_KIND_ADAPTER, root };
    }
    const weights = paths.some((p) => p.startsWith(root) && /^(model.*\.safetensors|pytorch_model.*\.bin)$/.test(p.slice(root.length)));
    if (has.has(`${root}config.json`) && weights) return { kind: ArtifactKind.ARTIFACT_KIND_MODEL, root };
  }
  return null;
}

/** The files of the exported directory: everything under the weights root but training state. */
export function exportedFiles(paths: readonly string[], layout: WeightsLayout): { from: string; to: string }[] {
  return paths
    .filter((p) => p.startsWith(layout.root))
    .map((p) => ({ from: p, to: p.slice(layout.root.length) }))
    .filter(({ to }) => !TRAINING_STATE.test(to));
}

/** Identity of the content: sha256 over the sorted (path, sha256, size) list, independent of when it was written. */
export function canonicalManifestSha(files: readonly ManifestFile[]): string {
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  return sha256Hex(JSON.stringify(sorted.map((f) => ({ path: f.path, sha256: f.sha256, size: f.size }))));
}
