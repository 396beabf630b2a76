// The storage interface every service codes against; S3ObjectStore and FsObjectStore implement it.

export interface ObjectInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface PutOptions {
  /** Create-only (S3 `If-None-Match: *`): throws ObjectExistsError when the key exists. */
  ifNoneMatch?: boolean;
  contentType?: string;
}

export interface ObjectStore {
  readonly kind: "s3" | "fs";
  put(key: string, body: Buffer | string | NodeJS.ReadableStream, opts?: PutOptions): Promise<void>;
  putFile(key: string, localPath: string, opts?: PutOptions): Promise<void>;
  /** Throws ObjectNotFoundError when missing. */
  get(key: string): Promise<Buffer>;
  getStream(key: string): Promise<NodeJS.ReadableStream>;
  /** Writes through a temp file + rename, so `localPath` is either absent or complete. */
  getFile(key: string, localPath: string): Promise<void>;
  stat(key: string): Promise<ObjectInfo | null>;
  /** Every object whose key starts with `prefix` (recursive), in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  copy(srcKey: string, dstKey: string): Promise<void>;
  /** "s3://<bucket>/<key>" or "file://<absolute path>". */
  uri(key: string): string;
  /** Inverse of uri() for this store; throws InvalidKeyError naming the uri otherwise. */
  keyFromUri(uri: string): string;
}
