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

  it("services' credentials are scoped to the bucket: another bucket can be neither read nor written", async () => {
    const m = await startMinioServer();
    try {
      assert.notEqual(m.accessKey, m.root.accessKey, "never the root user");
      const other = "other-bucket";
      const asRoot = new S3ObjectStore({ endPoint: m.endPoint, bucket: other, ...m.root });
      await asRoot.ensureBucket();
      await asRoot.put("secret.txt", "root's");
      const own = new S3ObjectStore({ endPoint: m.endPoint, bucket: m.bucket, accessKey: m.accessKey, secretKey: m.secretKey });
      await own.put("mine.txt", "ok");
      assert.equal((await own.get("mine.txt")).toString(), "ok");
      const trespass = new S3ObjectStore({ endPoint: m.endPoint, bucket: other, accessKey: m.accessKey, secretKey: m.secretKey });
      await assert.rejects(trespass.get("secret.txt"), /denied|forbidden|permission/i);
      await assert.rejects(trespass.put("planted.txt", "x"), /denied|forbidden|permission/i);
      await assert.rejects(new S3ObjectStore({ endPoint: m.endPoint, bucket: "new-bucket", accessKey: m.accessKey, secretKey: m.secretKey }).ensureBucket());
      const keys: string[] = [];
      for await (const o of asRoot.list("")) keys.push(o.key);
      assert.deepEqual(keys, ["secret.txt"], "nothing was planted in the other bucket");
    } finally {
      await m.stop();
    }
  });

  it("halt() is an outage (requests fail, data kept); restart() serves the same address, credentials and objects", async () => {
    const m = await startMinioServer();
    try {
      const store = new S3ObjectStore({ endPoint: m.endPoint, bucket: m.bucket, accessKey: m.accessKey, secretKey: m.secretKey });
      await store.put("kept.txt", "still here");
      await m.halt();
      await assert.rejects(fetch(`${m.endPoint}/minio/health/ready`));
      await m.restart();
      assert.equal((await store.get("kept.txt")).toString(), "still here");
    } finally {
      await m.stop();
    }
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
