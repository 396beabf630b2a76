import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ApiError } from "../errors.js";
import { locateUserUri } from "./locate.js";

describe("store/locate — user-given locations", () => {
  test("an s3:// URI is left to the caller; a file:// URI or a path is a local path, not normalised", () => {
    assert.deepEqual(locateUserUri("s3://b/x/", "f", "x"), { kind: "s3", uri: "s3://b/x/" });
    assert.deepEqual(locateUserUri("file:///data/a%20b.jsonl", "f", "x"), { kind: "local", path: "/data/a b.jsonl" });
    assert.deepEqual(locateUserUri("./d/../e.jsonl", "f", "x"), { kind: "local", path: "./d/../e.jsonl" });
  });

  test("an empty value, another scheme or a file:// URI with a host is INVALID_ARGUMENT naming the field", () => {
    for (const [uri, why] of [["", /must not be empty/], ["gs://b/x", /gs:\/\/b\/x: expected a path or an s3:\/\/ URI/], ["file://host/x", /not a local file URI/]] as const) {
      assert.throws(() => locateUserUri(uri, "sources[0].uri", "a path or an s3:// URI"), (err: unknown) => {
        assert.ok(err instanceof ApiError && err.code === 3 && err.field === "sources[0].uri", String(err));
        assert.match(err.message, why);
        return true;
      });
    }
  });
});
