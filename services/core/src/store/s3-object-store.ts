import { createReadStream } from "node:fs";
import * as fsp from "node:fs/promises";
import { Readable } from "node:stream";
import { Client, CopyDestinationOptions, CopySourceOptions } from "minio";
import { InvalidKeyError, ObjectExistsError, StoreError } from "./errors.js";
import { parseS3Uri, validateKey, validatePrefix } from "./keys.js";
import { writeFileAtomic } from "./local-files.js";
import type { ObjectInfo, ObjectStore, PutOptions } from "./object-store.js";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "./retry.js";
import { isTransientStoreError, mapS3Error } from "./s3-errors.js";
import { WorkloadIdentityCredentials } from "./workload-identity.js";

/** keys: accessKey/secretKey. workload-identity: the pod's identity (IRSA or EKS Pod Identity), no keys. */
export type S3Auth = "keys" | "workload-identity";

export interface S3ObjectStoreOptions {
  /** Endpoint URL, e.g. "http://127.0.0.1:9000" or "https://s3.eu-west-1.amazonaws.com". */
  endPoint: string;
  /** Default "us-east-1". */
  region?: string;
  bucket: string;
  /** Default "keys". */
  auth?: S3Auth;
  /** Static keys (auth "keys"; ignored for "workload-identity"). */
  accessKey: string;
  secretKey: string;
  sessionToken?: string;
  /** Retries after the first attempt for transient failures (network, 5xx, SlowDown). Default 4. */
  retries?: number;
  /** Force path-style URLs (the default for non-AWS endpoints such as MinIO). */
  pathStyle?: boolean;
}

// A create-only PUT must be a single request: If-None-Match on a multipart upload is
// checked at completion, which minio-js does not send it to. Manifests are tiny.
const MAX_CREATE_ONLY_BYTES = 64 * 1024 * 1024;

/**
 * ObjectStore on any S3-compatible service (AWS S3, MinIO, Ceph RGW, R2, ...), through the
 * minio client. minio-js's own retry is off: it logs to the console and cannot replay a
 * streamed body. Here, requests whose body can be replayed (buffers, files) are retried
 * with exponential backoff on transient failures; a caller-supplied stream is sent once.
 */
export class S3ObjectStore implements ObjectStore {
  readonly kind = "s3" as const;
  readonly bucket: string;
  private readonly client: Client;
  private readonly region: string;
  private readonly retry: RetryPolicy;

  constructor(opts: S3ObjectStoreOptions) {
    let url: URL;
    try {
      url = new URL(opts.endPoint);
    } catch {
      throw new StoreError(`S3ObjectStore: endPoint ${JSON.stringify(opts.endPoint)} is not a URL (e.g. "http://127.0.0.1:9000")`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new StoreError(`S3ObjectStore: endPoint ${opts.endPoint} must use http or https`);
    }
    if (url.pathname !== "/" && url.pathname !== "") {
      throw new StoreError(`S3ObjectStore: endPoint ${opts.endPoint} must not have a path`);
    }
    if (!opts.bucket) throw new StoreError("S3ObjectStore: bucket must not be empty");
    parseS3Uri(`s3://${opts.bucket}/`); // validates the bucket name
    this.bucket = opts.bucket;
    this.region = opts.region ?? "us-east-1";
    this.retry = { ...DEFAULT_RETRY, retries: opts.retries ?? DEFAULT_RETRY.retries };
    const useSSL = url.protocol === "https:";
    this.client = new Client({
      endPoint: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      region: this.region,
      ...(opts.auth === "workload-identity"
        ? { credentialsProvider: new WorkloadIdentityCredentials() }
        : { accessKey: opts.accessKey, secretKey: opts.secretKey, ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}) }),
      ...(opts.pathStyle !== undefined ? { pathStyle: opts.pathStyle } : {}),
      retryOptions: { disableRetry: true },
      // Fixed 64 MiB parts: otherwise a stream of unknown size is cut into ~550 MiB
      // parts (sized for a 5 TiB object), each buffered in memory.
      partSize: 64 * 1024 * 1024,
    });
  }

  /** Creates the bucket when it does not exist (idempotent, safe to race). */
  async ensureBucket(): Promise<void> {
    await this.call("", "ensureBucket", async () => {
      if (await this.client.bucketExists(this.bucket)) return;
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") throw err;
      }
    });
  }

  private call<T>(key: string, op: string, fn: () => Promise<T>, replayable = true): Promise<T> {
    const policy = replayable ? this.retry : { ...this.retry, retries: 0 };
    return withRetry(fn, isTransientStoreError, policy).catch((err: unknown) => {
      throw mapS3Error(err, key, op);
    });
  }

  private headers(opts: PutOptions): Record<string, string> {
    const h: Record<string, string> = {};
    if (opts.contentType) h["Content-Type"] = opts.contentType;
    if (opts.ifNoneMatch) h["If-None-Match"] = "*";
    return h;
  }

  async put(key: string, body: Buffer | string | NodeJS.ReadableStream, opts: PutOptions = {}): Promise<void> {
    validateKey(key);
    if (typeof body === "string") body = Buffer.from(body, "utf8");
    if (!Buffer.isBuffer(body) && opts.ifNoneMatch) body = await readLimited(body, key);
    if (Buffer.isBuffer(body)) {
      const buf = body;
      if (opts.ifNoneMatch && buf.length > MAX_CREATE_ONLY_BYTES) throw tooLargeForCreateOnly(key, buf.length);
      return this.putCreateOnlyAware(key, opts, () => this.client.putObject(this.bucket, key, buf, buf.length, this.headers(opts)));
    }
    const stream = body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>);
    await this.call(key, "put", () => this.client.putObject(this.bucket, key, stream, undefined, this.headers(opts)), false);
  }

  async putFile(key: string, localPath: string, opts: PutOptions = {}): Promise<void> {
    validateKey(key);
    const { size } = await fsp.stat(localPath);
    if (opts.ifNoneMatch && size > MAX_CREATE_ONLY_BYTES) throw tooLargeForCreateOnly(key, size);
    // A fresh read stream per attempt, so a retried upload sends the whole file again.
    return this.putCreateOnlyAware(key, opts, () =>
      this.client.putObject(this.bucket, key, createReadStream(localPath), size, this.headers(opts)),
    );
  }

  // A create-only PUT whose first attempt landed but whose reply was lost gets 412 on
  // the retry, which would wrongly report a conflict with ourselves. So a retried
  // create-only PUT that ends in ObjectExistsError says so in its message; callers that
  // can tell "same content" (manifests) check it themselves.
  private async putCreateOnlyAware(key: string, opts: PutOptions, fn: () => Promise<unknown>): Promise<void> {
    let attempts = 0;
    try {
      await this.call(key, "put", () => {
        attempts++;
        return fn();
      });
    } catch (err) {
      if (err instanceof ObjectExistsError && opts.ifNoneMatch && attempts > 1) {
        throw new ObjectExistsError(key, {
          cause: err,
          message: `object already exists: ${key} (after ${attempts} attempts; an earlier attempt may have written it)`,
        });
      }
      throw err;
    }
  }

  async get(key: string): Promise<Buffer> {
    validateKey(key);
    return this.call(key, "get", async () => {
      const stream = await this.client.getObject(this.bucket, key);
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    });
  }

  async getStream(key: string): Promise<NodeJS.ReadableStream> {
    validateKey(key);
    return this.call(key, "get", () => this.client.getObject(this.bucket, key));
  }

  async getFile(key: string, localPath: string): Promise<void> {
    validateKey(key);
    await this.call(key, "get", async () => writeFileAtomic(localPath, await this.client.getObject(this.bucket, key)));
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    validateKey(key);
    try {
      const st = await this.call(key, "stat", () => this.client.statObject(this.bucket, key));
      return { key, size: st.size, etag: st.etag, lastModified: st.lastModified };
    } catch (err) {
      if (err instanceof StoreError && err.name === "ObjectNotFoundError") return null;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    let token = "";
    do {
      // One page per request so a transient failure retries that page, not the listing.
      const page = await this.call(prefix, "list", () =>
        this.client.listObjectsV2Query(this.bucket, prefix, token, "", 1000, ""),
      );
      for (const o of page.objects) {
        if (o.name === undefined) continue;
        yield { key: o.name, size: o.size, etag: o.etag, lastModified: o.lastModified };
      }
      token = page.isTruncated ? page.nextContinuationToken : "";
    } while (token);
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    await this.call(key, "delete", () => this.client.removeObject(this.bucket, key));
  }

  async copy(srcKey: string, dstKey: string): Promise<void> {
    validateKey(srcKey, "srcKey");
    validateKey(dstKey, "dstKey");
    // composeObject does a plain CopyObject up to 5 GiB and a multipart UploadPartCopy above.
    await this.call(srcKey, "copy", () =>
      this.client.composeObject(new CopyDestinationOptions({ Bucket: this.bucket, Object: dstKey }), [
        new CopySourceOptions({ Bucket: this.bucket, Object: srcKey }),
      ]),
    );
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${validateKey(key)}`;
  }

  keyFromUri(uri: string): string {
    const { bucket, key } = parseS3Uri(uri);
    if (bucket !== this.bucket) throw new InvalidKeyError(uri, "uri", `bucket is not ${this.bucket}`);
    if (key === "" || key.endsWith("/")) throw new InvalidKeyError(uri, "uri", "names a prefix, not an object");
    return key;
  }
}

function tooLargeForCreateOnly(key: string, size: number): StoreError {
  return new StoreError(
    `create-only put of ${key} is ${size} bytes; create-only objects must be at most ${MAX_CREATE_ONLY_BYTES} (one PUT request)`,
    { key },
  );
}

async function readLimited(stream: NodeJS.ReadableStream, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream as AsyncIterable<Buffer | string>) {
    const b = typeof c === "string" ? Buffer.from(c) : c;
    size += b.length;
    if (size > MAX_CREATE_ONLY_BYTES) throw tooLargeForCreateOnly(key, size);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
