// Public face of the object-store layer.
export * from "./errors.js";
export { validateKey, validatePrefix, joinKey, parseS3Uri } from "./keys.js";
export { type Location, locate, locatePrefix, locateUserUri } from "./locate.js";
export { ModelStager, weightsRoot } from "./stage-model.js";
export type { ObjectInfo, ObjectStore, PutOptions } from "./object-store.js";
export { FsObjectStore } from "./fs-object-store.js";
export { type S3Auth, S3ObjectStore, type S3ObjectStoreOptions } from "./s3-object-store.js";
export { WorkloadIdentityCredentials } from "./workload-identity.js";
export { createObjectStore, type ObjectStoreConfig } from "./create-object-store.js";
export { DEFAULT_RETRY, type RetryPolicy, withRetry } from "./retry.js";
export {
  MANIFEST_NAME,
  type Manifest,
  type ManifestFile,
  copyPrefixWithManifest,
  downloadVerified,
  latestCompletePrefix,
  manifestKey,
  manifestOfDir,
  readManifest,
  sha256File,
  sha256Hex,
  uploadDirWithManifest,
} from "./manifest.js";
