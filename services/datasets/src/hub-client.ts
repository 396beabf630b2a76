// The Hugging Face Hub, as far as datasets need it: a revision's commit and files (listed by
// @huggingface/hub), and one file downloaded with retries and resume (HTTP Range). The base URL is
// configurable so a local server with the same paths and layout can stand in for the Hub.
import { createWriteStream } from "node:fs";
import * as fsp from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { status } from "@grpc/grpc-js";
import { datasetInfo, HubApiError, listFiles } from "@huggingface/hub";
import { ApiError } from "@mambalign/core";

export interface HubOptions {
  /** e.g. https://huggingface.co (MAMBALIGN_HF_ENDPOINT). */
  endpoint: string;
  /** HF_TOKEN; sent as a bearer token, never logged. */
  token: string;
  /** Tries per request (first try included). */
  attempts: number;
  /** First backoff between tries; doubles each time. */
  backoffMs: number;
}

export interface HubFile {
  path: string;
  size: number;
  /** sha256 of the content when the Hub knows it (LFS files), else "". */
  sha256: string;
  /** git blob id (content-addressed too), "" when absent. */
  blobId: string;
}

export interface HubRevision {
  repo: string;
  /** What was asked for ("main" when none). */
  revision: string;
  /** The commit it resolved to: what the card records and downloads pin. */
  commit: string;
  files: HubFile[];
}

export interface DownloadProgress {
  dataset: string;
  file: string;
  bytes: number;
  totalBytes: number;
  /** Served from our object store, no download. */
  cached: boolean;
  /** One line for a RunEvent log line or a progress bar. */
  message: string;
}

export type ProgressFn = (p: DownloadProgress) => void;

const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/** `org/name` or `org/name@revision`; null when `uri` is not shaped like a Hub dataset id. */
export function parseHubId(uri: string): { repo: string; revision: string } | null {
  const at = uri.indexOf("@");
  const repo = at < 0 ? uri : uri.slice(0, at);
  const revision = at < 0 ? "" : uri.slice(at + 1);
  if (!HUB_ID.test(repo) || repo.includes("..") || repo.includes("--") || !repo.includes("/")) return null;
  if (at >= 0 && (revision === "" || /[\s\\]|\.\./.test(revision))) return null;
  return { repo, revision: revision || "main" };
}

export function hubFailureMessage(repo: string, endpoint: string, why: string): string {
  return (
    `dataset ${repo}: the Hugging Face Hub at ${endpoint} cannot be reached (${why}). ` +
    `Download its Parquet or JSONL files where the Hub is reachable and name them instead: a local path or an ` +
    `s3:// URI of this deployment's bucket, in the recipe's datasets: section ` +
    `(datasets: { "${repo}": "s3://<bucket>/<path>/train.parquet" })`
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  return err instanceof Error ? err.message : String(err);
}

/** Statuses where another try can succeed (server trouble, rate limits); the rest are answers. */
const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export class HubClient {
  constructor(private readonly opts: HubOptions) {}

  get endpoint(): string {
    return this.opts.endpoint;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.opts.token ? { authorization: `Bearer ${this.opts.token}`, ...extra } : extra;
  }

  /**
   * fetch with our token and retries (the library has none): network errors and retryable statuses are retried,
   * then FAILED_PRECONDITION saying what to do instead.
   */
  private async fetchRetrying(repo: string, url: string, init: RequestInit = {}): Promise<Response> {
    let last = "";
    for (let attempt = 0; attempt < this.opts.attempts; attempt++) {
      if (attempt > 0) await sleep(this.opts.backoffMs * 2 ** (attempt - 1));
      try {
        const res = await fetch(url, { ...init, headers: this.headers(init.headers as Record<string, string>) });
        if (!RETRY_STATUS.has(res.status)) return res;
        last = `HTTP ${res.status}`;
        await res.body?.cancel();
      } catch (err) {
        last = describe(err);
      }
    }
    throw ApiError.failedPrecondition(hubFailureMessage(repo, this.opts.endpoint, `${last} after ${this.opts.attempts} tries`));
  }

  private answerError(repo: string, httpStatus: number, what: string): ApiError {
    if (httpStatus === 401 || httpStatus === 403) {
      return new ApiError(
        status.PERMISSION_DENIED,
        `dataset ${repo}: the Hub refused ${what} (HTTP ${httpStatus}); a gated or private dataset needs HF_TOKEN with access to it`,
        { key: repo },
      );
    }
    if (httpStatus === 404) {
      return new ApiError(status.NOT_FOUND, `dataset ${repo}: ${what} not found on the Hub at ${this.opts.endpoint}`, { key: repo });
    }
    return ApiError.failedPrecondition(hubFailureMessage(repo, this.opts.endpoint, `${what}: HTTP ${httpStatus}`), { key: repo });
  }

  /** The commit a revision points at and every file in it (with sizes and LFS sha256). */
  async resolve(repo: string, revision: string): Promise<HubRevision> {
    const common = { hubUrl: this.opts.endpoint, fetch: (url: string | URL | Request, init?: RequestInit) => this.fetchRetrying(repo, String(url), init) };
    try {
      const { sha } = await datasetInfo({ ...common, name: repo, revision, additionalFields: ["sha"] });
      if (typeof sha !== "string") throw ApiError.failedPrecondition(`dataset ${repo}: the Hub's answer for revision ${revision} has no sha`, { key: repo });
      const files: HubFile[] = [];
      for await (const f of listFiles({ ...common, repo: { type: "dataset", name: repo }, revision: sha, recursive: true })) {
        if (f.type === "file") files.push({ path: f.path, size: f.lfs?.size ?? f.size, sha256: f.lfs?.oid ?? "", blobId: f.oid ?? "" });
      }
      return { repo, revision, commit: sha, files };
    } catch (err) {
      throw err instanceof HubApiError ? this.answerError(repo, err.statusCode, `revision ${revision}`) : err;
    }
  }

  /**
   * Downloads one file of a commit to `dest`, resuming a partial `dest` with a Range request
   * after a dropped connection (a server that ignores Range gets the file again from the start).
   */
  async download(rev: HubRevision, file: HubFile, dest: string, onProgress?: ProgressFn): Promise<void> {
    const url = `${this.opts.endpoint}/datasets/${rev.repo}/resolve/${rev.commit}/${file.path.split("/").map(encodeURIComponent).join("/")}`;
    let last = "";
    for (let attempt = 0; attempt < this.opts.attempts; attempt++) {
      if (attempt > 0) await sleep(this.opts.backoffMs * 2 ** (attempt - 1));
      const have = (await fsp.stat(dest).catch(() => null))?.size ?? 0;
      if (file.size >= 0 && have === file.size) return;
      let res: Response;
      try {
        // Ours, not the library's downloadFile: its blob asks for a closed range after a probe request, and its
        // stream() turns an HTTP error into a bare abort message, losing the status (gated, missing, retryable).
        res = await fetch(url, { headers: this.headers(have > 0 ? { range: `bytes=${have}-` } : {}), redirect: "follow" });
      } catch (err) {
        last = describe(err);
        continue;
      }
      if (RETRY_STATUS.has(res.status)) {
        last = `HTTP ${res.status}`;
        await res.body?.cancel();
        continue;
      }
      if (res.status !== 200 && res.status !== 206) throw this.answerError(rev.repo, res.status, `file ${file.path}`);
      const append = res.status === 206 && have > 0;
      const total = file.size >= 0 ? file.size : Number(res.headers.get("content-length") ?? -1) + (append ? have : 0);
      let bytes = append ? have : 0;
      const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      let lastReport = 0;
      body.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        const now = performance.now();
        if (onProgress && (now - lastReport > 500 || bytes === total)) {
          lastReport = now;
          onProgress({ dataset: rev.repo, file: file.path, bytes, totalBytes: total, cached: false, message: `downloading ${rev.repo}/${file.path}: ${bytes}/${total} bytes` });
        }
      });
      try {
        await pipeline(body, createWriteStream(dest, { flags: append ? "a" : "w" }));
      } catch (err) {
        // Keep what arrived: the next try asks only for the rest.
        last = `connection lost after ${bytes} bytes (${describe(err)})`;
        continue;
      }
      if (file.size < 0 || bytes === file.size) return;
      last = `got ${bytes} of ${file.size} bytes`;
    }
    throw ApiError.failedPrecondition(hubFailureMessage(rev.repo, this.opts.endpoint, `downloading ${file.path}: ${last} after ${this.opts.attempts} tries`));
  }
}
