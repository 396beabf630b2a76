// The environment that points loadConfig at the test servers: NATS, and MinIO as the s3 object store.
import type { MinioServer } from "./minio-server.js";
import type { NatsServerHandle } from "./nats-server.js";

export function testServerEnv(nats: Pick<NatsServerHandle, "url">, minio: MinioServer): Record<string, string> {
  return {
    MAMBALIGN_NATS_URL: nats.url,
    MAMBALIGN_STORE: "s3",
    MAMBALIGN_S3_ENDPOINT: minio.endPoint,
    MAMBALIGN_BUCKET: minio.bucket,
    AWS_ACCESS_KEY_ID: minio.accessKey,
    AWS_SECRET_ACCESS_KEY: minio.secretKey,
  };
}
