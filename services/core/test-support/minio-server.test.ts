import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { S3ObjectStore } from "../src/store/s3-object-store.js";
import { findMinioBinary, startMinioServer } from "./minio-server.js";

describe("testing/minio-server — a real MinIO for tests", () => {
  it("starts ready with a bucket and random credentials; stop() shuts it down and removes its data", async () => {
    const a = await startMinioServer();
    const b = await startMinioServer({ bucket: "other-bucket" });
    try {
      assert.notEqual(a.accessKey, b.accessKey);
      assert.notEqual(a.endPoint, b.endPoint);
      assert.equal(b.bucket, "other-bucket");
      const res = await fetch(`${a.endPoint}/minio/health/ready`);
      assert.equal(res.status, 200);
      const store = new S3ObjectStore({ endPoint: a.endPoint, bucket: a.bucket, accessKey: a.accessKey, secretKey: a.secretKey });
      await store.put("hello.txt", "world");
      assert.equal((await store.get("hello.txt")).toString(), "world");
      // b's credentials are not valid on a.
      const wrong = new S3ObjectStore({ endPoint: a.endPoint, bucket: a.bucket, accessKey: b.accessKey, secretKey: b.secretKey });
      await assert.rejects(wrong.get("hello.txt"));
    } finally {
      await a.stop();
      await b.stop();
    }
    assert.equal(existsSync(a.dataDir), false);
    await assert.rejects(fetch(`${a.endPoint}/minio/health/ready`));
  });

  it("a missing binary names the install command", () => {
    const saved = process.env.MINIO_BIN;
    process.env.MINIO_BIN = "/nonexistent/minio";
    try {
      assert.throws(() => findMinioBinary(), /bash scripts\/minio\.sh install/);
    } finally {
      if (saved === undefined) delete process.env.MINIO_BIN;
      else process.env.MINIO_BIN = saved;
    }
  });
});
