// store — S3 credentials from workload identity on real MinIO, no static keys in the store's settings.
// What cannot run here: EKS's Pod Identity agent and STS (IRSA). The agent is stood in for by a
// loopback HTTP endpoint speaking its documented container-credentials protocol (token file in the
// Authorization header, JSON credentials back); the S3 requests go to a real MinIO.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type MinioServer, startMinioServer } from "../../test-support/minio-server.js";
import { createObjectStore } from "./create-object-store.js";

const ENV_KEYS = ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"];

describe("store — S3 credentials from EKS Pod Identity (agent stood in on loopback)", () => {
  let minio: MinioServer;
  let agent: http.Server;
  let dir: string;
  const saved = new Map(ENV_KEYS.map((k) => [k, process.env[k]]));
  const seenTokens: string[] = [];

  before(async () => {
    minio = await startMinioServer();
    dir = await mkdtemp(join(tmpdir(), "pod-identity-"));
    const tokenFile = join(dir, "eks-pod-identity-token");
    await writeFile(tokenFile, "projected-sa-token-1\n");
    agent = http.createServer((req, res) => {
      seenTokens.push(String(req.headers.authorization ?? ""));
      if (req.headers.authorization !== "projected-sa-token-1") {
        res.writeHead(403).end(JSON.stringify({ Code: "AccessDenied", Message: "bad token" }));
        return;
      }
      const expiration = new Date(Date.now() + 3600_000).toISOString();
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ Code: "Success", AccessKeyID: minio.accessKey, SecretAccessKey: minio.secretKey, Token: "", Expiration: expiration }));
    });
    await new Promise<void>((resolve) => agent.listen(0, "127.0.0.1", resolve));
    for (const k of ENV_KEYS) delete process.env[k];
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `http://127.0.0.1:${(agent.address() as AddressInfo).port}/v1/credentials`;
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = tokenFile;
  });

  after(async () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await new Promise((resolve) => agent?.close(resolve));
    await minio?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("a store with auth workload-identity and no keys writes and reads with the agent's credentials", async () => {
    const store = createObjectStore({ kind: "s3", s3: { endPoint: minio.endPoint, bucket: minio.bucket, auth: "workload-identity", accessKey: "", secretKey: "" } });
    const key = `wi/${randomBytes(4).toString("hex")}`;
    await store.put(key, "from pod identity");
    assert.equal((await store.get(key)).toString(), "from pod identity");
    assert.ok(seenTokens.length >= 1 && seenTokens.every((t) => t === "projected-sa-token-1"), "the token file's token went to the agent");
  });

  it("without workload identity, a store with no keys is refused naming the missing settings", () => {
    assert.throws(
      () => createObjectStore({ kind: "s3", s3: { endPoint: minio.endPoint, bucket: minio.bucket, accessKey: "", secretKey: "" } }),
      /missing s3\.accessKey, s3\.secretKey/,
    );
  });
});
