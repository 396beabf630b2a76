// A local HTTP server with the Hugging Face Hub's dataset API paths and file layout, for tests:
//   GET /api/datasets/<org>/<name>/revision/<rev>              -> {id, sha}
//   GET /api/datasets/<org>/<name>/tree/<rev>?recursive=true   -> [{type, path, size, oid, lfs: {oid, size}}]
//   GET /datasets/<org>/<name>/resolve/<rev>/<path>           -> the file (HTTP Range honoured)
// Only the base URL differs from the real Hub, so the code under test runs its real path.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface StandInRepo {
  /** path in the repo -> content */
  files: Record<string, Buffer>;
  /** Requests without `Authorization: Bearer <token>` get 401 (a gated dataset). */
  token?: string;
}

export interface HubRequest {
  path: string;
  range: string;
  authorized: boolean;
}

export interface HubStandIn {
  url: string;
  requests: HubRequest[];
  /** The commit every revision of a repo resolves to. */
  commitOf(repo: string): string;
  /** The next full download of `path` is cut after this many bytes (a dropped connection). */
  dropNextDownload(path: string, afterBytes: number): void;
  close(): Promise<void>;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

export async function startHubStandIn(repos: Record<string, StandInRepo>): Promise<HubStandIn> {
  const requests: HubRequest[] = [];
  const drops = new Map<string, number>();
  const commitOf = (repo: string) => createHash("sha1").update(`commit:${repo}`).digest("hex");

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const path = decodeURIComponent(url.pathname);
    const auth = req.headers.authorization ?? "";
    requests.push({ path, range: String(req.headers.range ?? ""), authorized: auth !== "" });
    const api = /^\/api\/datasets\/([^/]+\/[^/]+)\/(revision|tree)\/(.+)$/.exec(path);
    const file = /^\/datasets\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repoName = api?.[1] ?? file?.[1] ?? "";
    const repo = repos[repoName];
    if (!repo) return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "Repository not found" }));
    if (repo.token && auth !== `Bearer ${repo.token}`) return void res.writeHead(401).end();
    const rev = api?.[3] ?? file?.[2] ?? "";
    if (rev !== "main" && rev !== commitOf(repoName)) return void res.writeHead(404).end(JSON.stringify({ error: "Revision not found" }));
    if (api) {
      const tree = Object.entries(repo.files).map(([path, b]) => ({ type: "file", path, size: b.length, oid: createHash("sha1").update(b).digest("hex"), lfs: { oid: sha256(b), size: b.length, pointerSize: 134 } }));
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(api[2] === "tree" ? tree : { id: repoName, sha: commitOf(repoName) }));
    }
    const body = file ? repo.files[file[3]!] : undefined;
    if (!body) return void res.writeHead(404).end();
    const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
    if (m) {
      const start = Number(m[1]);
      res.writeHead(206, { "content-length": body.length - start, "content-range": `bytes ${start}-${body.length - 1}/${body.length}` });
      return void res.end(body.subarray(start));
    }
    const drop = drops.get(file![3]!);
    if (drop !== undefined) {
      drops.delete(file![3]!);
      res.writeHead(200, { "content-length": body.length });
      // Close our side gracefully (FIN) once the bytes are flushed: a reset could make the client's
      // kernel discard bytes it already received, and the resume point would vary between runs.
      res.write(body.subarray(0, drop), () => res.socket?.end());
      return;
    }
    res.writeHead(200, { "content-length": body.length }).end(body);
  }

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    commitOf,
    dropNextDownload: (path, afterBytes) => drops.set(path, afterBytes),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
