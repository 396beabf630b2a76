// pipeline — what StartRun accepts: Hub dataset ids and Parquet go through, relative paths and unknown formats do not.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError } from "@mambalign/core";
import { acceptRecipe } from "./recipe-guard.js";

const base = (mixer: string, extra = "") => `model_name_or_path: preset:tiny-mamba-char
stages: [sft]
${extra}sft:
  dataset_mixer: { ${mixer}: 1.0 }
  dataset_splits: [train_sft, test_sft]
`;

test("recipe guard — a Hub dataset id (with a revision) and a Parquet file are accepted for a run", () => {
  const hub = acceptRecipe(base("HuggingFaceH4/ultrachat_200k@main"));
  assert.deepEqual(hub.recipe.sft?.args?.datasetSplits, ["train_sft", "test_sft"]);
  acceptRecipe(base("chat", "datasets:\n  chat: /data/chat.parquet\n"));
});

test("recipe guard — relative paths and unknown formats are INVALID_ARGUMENT naming the datasets key", () => {
  for (const [src, pattern] of [
    ["./chat.jsonl", /relative path/],
    ["/data/chat.csv", /unknown dataset format \.csv/],
  ] as const) {
    assert.throws(
      () => acceptRecipe(base("chat", `datasets:\n  chat: ${src}\n`)),
      (err: ApiError) => err.details.field === "datasets.chat" && pattern.test(err.message),
    );
  }
});
