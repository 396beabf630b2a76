// Uploads checkpoint dirs in the order the runtime saved them, each with its manifest written last.
import type { Logger } from "pino";
import {
  isRetryable,
  type Manifest,
  ObjectExistsError,
  type ObjectStore,
  type RetryPolicy,
  uploadDirWithManifest,
  withRetry,
} from "@mambalign/core";
import type { TrainerMetrics } from "./trainer-metrics.js";

/** Whole-upload retries on top of the per-file retries inside uploadDirWithManifest. */
const UPLOAD_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 500, maxDelayMs: 10_000 };

export interface UploadResult {
  prefix: string;
  manifest: Manifest;
  manifestSha256: string;
  bytes: number;
  /** True when a complete prefix with other bytes was already there and was kept. */
  existed: boolean;
}

export interface UploaderDeps {
  store: ObjectStore;
  logger: Logger;
  metrics: TrainerMetrics;
  service: string;
}

/** One upload: retried while the store says a retry can help; never leaves a manifest after a failure. */
export async function uploadWithManifest(
  d: UploaderDeps,
  kind: "checkpoint" | "artifact",
  prefix: string,
  dir: string,
  meta: Record<string, string>,
): Promise<UploadResult> {
  const started = performance.now();
  try {
    const r = await withRetry(() => uploadDirWithManifest(d.store, prefix, dir, meta), isRetryable, UPLOAD_RETRY);
    const bytes = r.manifest.files.reduce((n, f) => n + f.size, 0);
    d.metrics.uploadBytes.inc({ service: d.service, kind }, bytes);
    d.metrics.uploadSeconds.observe({ service: d.service, kind }, (performance.now() - started) / 1000);
    return { prefix, ...r, bytes, existed: false };
  } catch (err) {
    if (err instanceof ObjectExistsError && kind === "checkpoint") {
      // A resumed run re-saved a step an earlier delivery already uploaded: the complete one stays.
      d.logger.warn({ prefix }, "a complete checkpoint with other bytes already exists at this step; keeping it");
      return { prefix, manifest: { version: 1, files: [], createdAt: "" }, manifestSha256: "", bytes: 0, existed: true };
    }
    d.metrics.uploadFailures.inc({ service: d.service, kind });
    throw err;
  }
}

/**
 * A queue of checkpoint uploads that runs beside training: the runtime keeps stepping while
 * step N uploads, and uploads finish in step order.
 */
export class CheckpointUploader {
  #chain: Promise<void> = Promise.resolve();
  readonly uploaded: UploadResult[] = [];
  readonly failed: { prefix: string; error: unknown }[] = [];

  constructor(
    private readonly d: UploaderDeps,
    private readonly onUploaded: (step: number, r: UploadResult) => void,
    private readonly onFailed: (step: number, prefix: string, err: unknown) => void,
  ) {}

  enqueue(step: number, prefix: string, dir: string, meta: Record<string, string>): void {
    this.#chain = this.#chain.then(async () => {
      try {
        const r = await uploadWithManifest(this.d, "checkpoint", prefix, dir, meta);
        this.uploaded.push(r);
        this.onUploaded(step, r);
      } catch (error) {
        // Training goes on: the next checkpoint may upload, and a resume uses the newest complete one.
        this.d.logger.error({ err: error, prefix }, "checkpoint upload failed; no manifest written");
        this.failed.push({ prefix, error });
        this.onFailed(step, prefix, error);
      }
    });
  }

  /** Resolves when every queued upload finished (succeeded or failed). */
  drain(): Promise<void> {
    return this.#chain;
  }
}
