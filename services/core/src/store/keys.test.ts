import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidKeyError, StoreError } from "./errors.js";
import { createObjectStore } from "./create-object-store.js";
import { FsObjectStore } from "./fs-object-store.js";
import { joinKey, parseS3Uri, validateKey, validatePrefix } from "./keys.js";
import { S3ObjectStore } from "./s3-object-store.js";

describe("validateKey — object keys users may send", () => {
  it("accepts ordinary keys unchanged", () => {
    for (const k of ["a", "datasets/abc/train.jsonl", "x/y z+ü.txt", ".hidden/file", "a..b/c", "x".repeat(1024)]) {
      assert.equal(validateKey(k), k);
    }
  });

  it("rejects keys that could escape a prefix, naming the key, the field and the reason", () => {
    const cases: [string, RegExp][] = [
      ["", /empty/],
      ["..", /"\.\." path segment/],
      [".", /"\." path segment/],
      ["a/../b", /"\.\." path segment/],
      ["a/./b", /"\." path segment/],
      ["/abs", /starts with "\/"/],
      ["a\\b", /"\\"/],
      ["a//b", /empty path segment/],
      ["a/", /empty path segment/],
      ["a\u0000b", /control character/],
      ["a\u007fb", /control character/],
      ["a\tb", /control character/],
      ["é".repeat(513), /1024 bytes/],
    ];
    for (const [key, reason] of cases) {
      assert.throws(
        () => validateKey(key, "adapter_name"),
        (err: unknown) => {
          assert.ok(err instanceof InvalidKeyError, JSON.stringify(key));
          assert.equal(err.key, key);
          assert.equal(err.field, "adapter_name");
          assert.equal(err.retryable, false);
          assert.ok(err.message.includes("adapter_name") && err.message.includes(JSON.stringify(key)), err.message);
          assert.match(err.message, reason);
          return true;
        },
      );
    }
  });

  it("prefixes may be empty or end in a slash; joinKey validates the result", () => {
    assert.equal(validatePrefix(""), "");
    assert.equal(validatePrefix("a/b/"), "a/b/");
    assert.throws(() => validatePrefix("a//"), InvalidKeyError);
    assert.throws(() => validatePrefix("../"), InvalidKeyError);
    assert.equal(joinKey("checkpoints/r/sft/", "model.bin"), "checkpoints/r/sft/model.bin");
    assert.equal(joinKey("checkpoints/r/sft", "tok/vocab.txt"), "checkpoints/r/sft/tok/vocab.txt");
    assert.throws(() => joinKey("checkpoints/r", "../../x", "path"), (e: unknown) => e instanceof InvalidKeyError && e.field === "path");
  });
});

describe("parseS3Uri — s3://bucket/key", () => {
  it("splits bucket and key", () => {
    assert.deepEqual(parseS3Uri("s3://mambalign/checkpoints/r1/sft/100/model.bin"), {
      bucket: "mambalign",
      key: "checkpoints/r1/sft/100/model.bin",
    });
    assert.deepEqual(parseS3Uri("s3://mambalign/adapters/a/"), { bucket: "mambalign", key: "adapters/a/" });
    assert.deepEqual(parseS3Uri("s3://mambalign"), { bucket: "mambalign", key: "" });
  });

  it("rejects other schemes, bad bucket names and traversal, naming the uri", () => {
    for (const uri of ["http://b/k", "s3:/b/k", "s3://", "s3://UPPER/k", "s3://b/k", "s3://bucket/../x", "s3://bucket//x"]) {
      assert.throws(
        () => parseS3Uri(uri),
        (e: unknown) => e instanceof InvalidKeyError && e.field === "uri" && e.message.includes(JSON.stringify(uri)),
        uri,
      );
    }
  });
});

describe("createObjectStore — from resolved config", () => {
  it("builds the store the config names", () => {
    assert.ok(createObjectStore({ kind: "fs", fsRoot: "/tmp/x" }) instanceof FsObjectStore);
    const s3 = createObjectStore({
      kind: "s3",
      s3: { endPoint: "http://127.0.0.1:9000", bucket: "mambalign", accessKey: "a", secretKey: "b" },
    });
    assert.ok(s3 instanceof S3ObjectStore);
    assert.equal(s3.uri("runs/r1/recipe.yaml"), "s3://mambalign/runs/r1/recipe.yaml");
  });

  it("names what is missing", () => {
    assert.throws(() => createObjectStore({ kind: "fs" }), /fsRoot/);
    assert.throws(() => createObjectStore({ kind: "s3" }), /s3 settings/);
    assert.throws(
      () => createObjectStore({ kind: "s3", s3: { endPoint: "http://h:1", bucket: "bkt", accessKey: "", secretKey: "" } }),
      (e: unknown) => e instanceof StoreError && /s3\.accessKey, s3\.secretKey/.test(e.message),
    );
    assert.throws(() => createObjectStore({ kind: "gcs" as "fs" }), /unknown object store kind "gcs"/);
  });
});
