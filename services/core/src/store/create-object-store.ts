import { StoreError } from "./errors.js";
import { FsObjectStore } from "./fs-object-store.js";
import type { ObjectStore } from "./object-store.js";
import { S3ObjectStore, type S3ObjectStoreOptions } from "./s3-object-store.js";

export interface ObjectStoreConfig {
  kind: "s3" | "fs";
  /** Root directory for kind "fs". */
  fsRoot?: string;
  /** Connection for kind "s3". */
  s3?: S3ObjectStoreOptions;
}

/** Builds the store a service's resolved config asks for (MAMBALIGN_STORE). */
export function createObjectStore(cfg: ObjectStoreConfig): ObjectStore {
  if (cfg.kind === "fs") {
    if (!cfg.fsRoot) throw new StoreError('object store kind "fs" needs fsRoot (MAMBALIGN_FS_ROOT)');
    return new FsObjectStore({ root: cfg.fsRoot });
  }
  if (cfg.kind === "s3") {
    const s3 = cfg.s3;
    if (!s3) throw new StoreError('object store kind "s3" needs s3 settings (MAMBALIGN_S3_ENDPOINT, ...)');
    const required = s3.auth === "workload-identity" ? (["endPoint", "bucket"] as const) : (["endPoint", "bucket", "accessKey", "secretKey"] as const);
    const missing = required.filter((f) => !s3[f]);
    if (missing.length) throw new StoreError(`object store kind "s3" is missing s3.${missing.join(", s3.")}`);
    return new S3ObjectStore(s3);
  }
  throw new StoreError(`unknown object store kind ${JSON.stringify((cfg as { kind: unknown }).kind)} (expected "s3" or "fs")`);
}
