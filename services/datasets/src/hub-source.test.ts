import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseHubId } from "./hub-client.js";
import { filesOfSplit, splitsOffered } from "./hub-source.js";

const file = (path: string) => ({ path, size: 1, sha256: "", blobId: "" });

describe("datasets hub — ids and the Hub's file layouts", () => {
  it("parses org/name with an optional revision; paths and URIs are not Hub ids", () => {
    assert.deepEqual(parseHubId("HuggingFaceH4/ultrachat_200k"), { repo: "HuggingFaceH4/ultrachat_200k", revision: "main" });
    assert.deepEqual(parseHubId("argilla/dpo-mix-7k@v1.0"), { repo: "argilla/dpo-mix-7k", revision: "v1.0" });
    assert.deepEqual(parseHubId("org/name@refs/convert/parquet"), { repo: "org/name", revision: "refs/convert/parquet" });
    for (const s of ["ultrachat", "org/name@", "../x/y", "org/../y", "org/name/extra", "s3://b/k"]) assert.equal(parseHubId(s), null, s);
  });

  it("finds a split's files in the layouts datasets use", () => {
    const files = [
      "README.md",
      "data/train_sft-00000-of-00003-a3ecf92756993583.parquet",
      "data/train_sft-00001-of-00003-0a1804bcb6ae68c6.parquet",
      "data/test_sft-00000-of-00001-f7dfac4afe5b93f4.parquet",
      "data/train_gen-00000-of-00001-3d4cd8309148a71f.parquet",
      "default/train/0000.parquet",
      "train.jsonl",
    ].map(file);
    assert.deepEqual(filesOfSplit(files, "train_sft").map((f) => f.path), [
      "data/train_sft-00000-of-00003-a3ecf92756993583.parquet",
      "data/train_sft-00001-of-00003-0a1804bcb6ae68c6.parquet",
    ]);
    assert.deepEqual(filesOfSplit(files, "train").map((f) => f.path), ["default/train/0000.parquet", "train.jsonl"]);
    assert.deepEqual(filesOfSplit(files, "test_prefs"), []);
    assert.deepEqual(splitsOffered(files), ["0000", "test_sft", "train", "train_gen", "train_sft"]);
  });
});
