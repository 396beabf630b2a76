import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type MinioServer, startMinioServer } from "../../test-support/minio-server.js";
import { ObjectNotFoundError, StoreError, StoreUnavailableError } from "./errors.js";
import { manifestKey, uploadDirWithManifest } from "./manifest.js";
import { objectStoreContract } from "../../test-support/object-store.contract.js";
import { S3ObjectStore } from "./s3-object-store.js";

let minio: MinioServer | undefined;
async function sharedMinio(): Promise<MinioServer> {
  minio ??= await startMinioServer();
  return minio;
}
after(async () => {
  await minio?.stop();
});

function storeOn(m: MinioServer, overrides: Partial<ConstructorParameters<typeof S3ObjectStore>[0]> = {}) {
  return new S3ObjectStore({ endPoint: m.endPoint, bucket: m.bucket, accessKey: m.accessKey, secretKey: m.secretKey, ...overrides });
}

objectStoreContract("S3ObjectStore on MinIO", async () => {
  const m = await sharedMinio();
  return { store: storeOn(m), cleanup: async () => {} };
});

/**
 * A proxy in front of the real MinIO that answers chosen requests with 503 SlowDown (the
 * way S3 throttles) and forwards the rest unchanged (Host kept, so signatures still verify).
 */
async function slowDownProxy(target: string, shouldFail: (req: http.IncomingMessage) => boolean) {
  const upstream = new URL(target);
  let failed = 0;
  const server = http.createServer((req, res) => {
    if (shouldFail(req)) {
      failed++;
      req.resume();
      res.writeHead(503, { "Content-Type": "application/xml" });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    const fwd = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    fwd.on("error", (err) => res.destroy(err));
    req.pipe(fwd);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    endPoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failures: () => failed,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe("S3ObjectStore — S3 specifics", () => {
  let m: MinioServer;
  before(async () => {
    m = await sharedMinio();
  });

  it("retries SlowDown with backoff until the request succeeds", async () => {
    let left = 2;
    const proxy = await slowDownProxy(m.endPoint, (req) => req.method === "PUT" && left-- > 0);
    try {
      const store = storeOn(m, { endPoint: proxy.endPoint, retries: 3 });
      const key = `retry-${randomBytes(3).toString("hex")}/obj`;
      await store.put(key, "survived throttling");
      assert.equal(proxy.failures(), 2);
      assert.equal((await storeOn(m).get(key)).toString(), "survived throttling");
    } finally {
      await proxy.close();
    }
  });

  it("gives up after the configured retries with a retryable StoreUnavailableError", async () => {
    const proxy = await slowDownProxy(m.endPoint, () => true);
    try {
      const store = storeOn(m, { endPoint: proxy.endPoint, retries: 2 });
      await assert.rejects(store.get("any/key"), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError, String(err));
        assert.equal(err.retryable, true);
        assert.equal(err.key, "any/key");
        return true;
      });
      assert.equal(proxy.failures(), 3);
    } finally {
      await proxy.close();
    }
  });

  it("an unreachable endpoint is StoreUnavailableError (retryable), not a crash", async () => {
    const closed = await slowDownProxy(m.endPoint, () => true);
    await closed.close(); // the port is now closed: connections are refused
    const store = storeOn(m, { endPoint: closed.endPoint, retries: 1 });
    await assert.rejects(store.stat("k"), (err: unknown) => err instanceof StoreUnavailableError && err.retryable);
  });

  it("an upload that keeps failing writes no manifest", async () => {
    const proxy = await slowDownProxy(m.endPoint, (req) => req.method === "PUT" && (req.url ?? "").includes("weights.bin"));
    const { mkdtemp, writeFile, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "s3-fail-"));
    try {
      await writeFile(join(dir, "config.json"), "{}");
      await writeFile(join(dir, "weights.bin"), randomBytes(1000));
      const store = storeOn(m, { endPoint: proxy.endPoint, retries: 1 });
      const prefix = `fail-${randomBytes(3).toString("hex")}/ckpt/1`;
      await assert.rejects(uploadDirWithManifest(store, prefix, dir), StoreUnavailableError);
      assert.equal(await storeOn(m).stat(manifestKey(prefix)), null);
    } finally {
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("wrong credentials fail fast and are not retryable", async () => {
    const store = storeOn(m, { secretKey: "wrong-secret-key", retries: 3 });
    await assert.rejects(store.get("k"), (err: unknown) => {
      assert.ok(err instanceof StoreError && !(err instanceof ObjectNotFoundError), String(err));
      assert.equal(err.retryable, false);
      return true;
    });
  });

  it("ensureBucket creates a missing bucket and is idempotent", async () => {
    // Creating another bucket is the root user's to do: the harness's user may use its own bucket only.
    const store = storeOn(m, { bucket: `b-${randomBytes(4).toString("hex")}`, ...m.root });
    await store.ensureBucket();
    await store.ensureBucket();
    await store.put("x", "y");
    assert.equal((await store.get("x")).toString(), "y");
  });

  it("rejects an endPoint that is not a URL, naming it", () => {
    assert.throws(() => storeOn(m, { endPoint: "127.0.0.1:9000" }), /127\.0\.0\.1:9000/);
  });
});
