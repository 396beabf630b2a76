"""generate — batched greedy decoding equals one-by-one decoding; outputs JSONL rows."""

import json

from mambalign_runtime.preset import build_char_tokenizer

from conftest import of_kind, run_inprocess, write_spec


def test_batched_equals_single(tmp_path, sft_run, demo_dir):
    out, _ = sft_run
    # The trained adapter on its base: prompts of different lengths share a left-padded batch.
    prompts = demo_dir / "heldout.jsonl"
    model_dir = json.loads((out / "spec.json").read_text())["model"]
    rows_batched, events = generate_with_adapter(tmp_path, model_dir, out / "adapter", prompts, 6, "batched")
    rows_single, _ = generate_with_adapter(tmp_path, model_dir, out / "adapter", prompts, 1, "single")
    assert len(rows_batched) == 12
    assert rows_batched == rows_single
    assert len({len(json.loads(line)["messages"][0]["content"]) for line in prompts.read_text().splitlines()}) > 1
    assert [r["id"] for r in rows_batched] == [f"heldout-{i}" for i in range(12)]
    tokenizer = build_char_tokenizer()
    # `tokens` counts the generated tokens before EOS (never more than maxNewTokens).
    assert all(r["tokens"] == len(tokenizer.encode(r["output"])) <= 10 for r in rows_batched)
    assert [p["step"] for p in of_kind(events, "progress")] == [1, 2]


def generate_with_adapter(tmp_path, model, adapter, prompts, batch_size, name):
    out = tmp_path / f"{name}.jsonl"
    spec = write_spec(tmp_path / f"{name}.json", {
        "model": str(model), "adapter": str(adapter), "outputDir": str(tmp_path),
        "generate": {"promptsFile": str(prompts), "outputFile": str(out), "maxNewTokens": 10,
                     "batchSize": batch_size}})
    code, events = run_inprocess(["generate", "--spec", str(spec)])
    assert code == 0, events
    return [json.loads(line) for line in out.read_text().splitlines()], events
