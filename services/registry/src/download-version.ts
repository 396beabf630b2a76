// DownloadVersion: the files of a version's exported directory (PEFT adapter or model layout, no
// training state), streamed in chunks so a client anywhere writes them itself; the manifest's
// size and sha256 travel with each file for the client to check its copy.
import { type AdapterVersion, ApiError, type DownloadVersionResponse, type ObjectStore } from "@mambalign/core";
import { detectLayout, exportedFiles } from "./artifact-layout.js";
import { versionPrefix } from "./names.js";

/** Bytes per message: well under gRPC's default 4 MiB limit on what a client receives. */
export const DOWNLOAD_CHUNK_BYTES = 1 << 20;

export async function* downloadVersion(store: ObjectStore, v: AdapterVersion, signal: AbortSignal): AsyncGenerator<DownloadVersionResponse> {
  const layout = detectLayout(v.manifest.map((f) => f.path));
  if (!layout) throw ApiError.failedPrecondition(`${v.id} holds no adapter or model files`, { key: v.id });
  const manifest = new Map(v.manifest.map((m) => [m.path, m]));
  for (const f of exportedFiles([...manifest.keys()], layout)) {
    const m = manifest.get(f.from)!;
    const head = { path: f.to, size: m.size, sha256: m.sha256 };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let sent = false;
    for await (const chunk of await store.getStream(`${versionPrefix(v.name, v.version)}/${f.from}`)) {
      if (signal.aborted) return;
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string | Uint8Array);
      pending.push(b);
      pendingBytes += b.length;
      if (pendingBytes >= DOWNLOAD_CHUNK_BYTES) {
        const all = Buffer.concat(pending);
        for (let at = 0; at + DOWNLOAD_CHUNK_BYTES <= all.length; at += DOWNLOAD_CHUNK_BYTES) {
          yield { ...head, data: all.subarray(at, at + DOWNLOAD_CHUNK_BYTES) };
          sent = true;
        }
        const rest = all.subarray(all.length - (all.length % DOWNLOAD_CHUNK_BYTES));
        pending = rest.length ? [rest] : [];
        pendingBytes = rest.length;
      }
    }
    if (pendingBytes > 0 || !sent) yield { ...head, data: Buffer.concat(pending) };
  }
}
