// ExportVersion: the version's weights directory (PEFT layout: adapter_config.json +
// adapter_model.safetensors + tokenizer files; or a model directory) written to a local
// directory or an s3:// prefix of our bucket, every file checked against the manifest's sha256.
import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { status } from "@grpc/grpc-js";
import {
  type AdapterVersion,
  ApiError,
  downloadVerified,
  LocalRoots,
  locatePrefix,
  locateUserUri,
  type ObjectStore,
  sha256File,
  uploadDirWithManifest,
} from "@mambalign/core";
import { detectLayout, exportedFiles } from "./artifact-layout.js";
import { versionPrefix } from "./names.js";

// Prefixes owned by the services (docs/architecture.md): an export must not write into them.
const OWNED_PREFIXES = ["datasets", "checkpoints", "adapters", "evals", "runs"];

type Destination = { kind: "local"; path: string } | { kind: "store"; prefix: string };

/** Where an export goes; a local directory is only a request here (checked against the export roots later). */
export function resolveDestination(store: ObjectStore, destination: string): Destination {
  const field = "destination";
  const loc = locateUserUri(destination, field, "a local directory, a file:// URI or an s3:// prefix");
  if (loc.kind === "s3") {
    const prefix = locatePrefix(store, destination, field);
    const top = prefix.split("/")[0] ?? "";
    if (OWNED_PREFIXES.includes(top)) {
      throw ApiError.invalidArgument(field, `${destination}: ${top}/ belongs to a service; export under another prefix such as exports/`, {
        key: destination,
      });
    }
    return { kind: "store", prefix };
  }
  return loc;
}

export async function exportVersion(
  store: ObjectStore,
  exportRoots: LocalRoots,
  v: AdapterVersion,
  destination: string,
): Promise<{ destination: string; files: string[] }> {
  const requested = resolveDestination(store, destination);
  // Confined before any work: the caller's path, symbolic links followed, must be under a root.
  const dest = requested.kind === "local" ? { kind: "local" as const, dir: await exportRoots.directory(requested.path, "destination") } : requested;
  const layout = detectLayout(v.manifest.map((f) => f.path));
  if (!layout) throw ApiError.failedPrecondition(`${v.id} holds no adapter or model files`, { key: v.id });
  const files = exportedFiles(v.manifest.map((f) => f.path), layout);
  const staging = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-export-"));
  try {
    // Every file is checked against the version's manifest before it is renamed into place.
    await downloadVerified(store, versionPrefix(v.name, v.version), path.join(staging, "all"));
    const out = path.join(staging, "out");
    for (const f of files) {
      await fsp.mkdir(path.dirname(path.join(out, f.to)), { recursive: true });
      await fsp.rename(path.join(staging, "all", f.from), path.join(out, f.to));
    }
    if (dest.kind === "store") {
      await uploadDirWithManifest(store, dest.prefix, out, { version: v.id });
      return { destination: `${store.uri(dest.prefix)}/`, files: files.map((f) => f.to) };
    }
    const want = new Map(v.manifest.map((m) => [m.path, m]));
    for (const f of files) {
      const target = path.join(dest.dir, f.to);
      await fsp.mkdir(path.dirname(target), { recursive: true });
      // A subdirectory that is a symbolic link out of the destination is not followed.
      if (!(await LocalRoots.stillInside(path.dirname(target), dest.dir))) {
        throw new ApiError(status.PERMISSION_DENIED, `destination: ${path.dirname(f.to)}/ in ${dest.dir} is a symbolic link out of it`, { field: "destination" });
      }
      // A fresh name, created exclusively: an existing file or link there is never written through.
      const tmp = `${target}.tmp-${randomBytes(6).toString("hex")}`;
      await fsp.copyFile(path.join(out, f.to), tmp, fsConstants.COPYFILE_EXCL);
      // Re-check the copy on the destination's disk, then rename: a bad file never appears.
      const got = await sha256File(tmp);
      const m = want.get(f.from);
      if (!m || got.sha256 !== m.sha256 || BigInt(got.size) !== m.size) {
        await fsp.rm(tmp, { force: true });
        throw new ApiError(status.DATA_LOSS, `export of ${v.id}: ${f.to} did not copy intact to ${dest.dir}`, { key: f.to });
      }
      await fsp.rename(tmp, target);
    }
    return { destination: dest.dir, files: files.map((f) => f.to) };
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
}
