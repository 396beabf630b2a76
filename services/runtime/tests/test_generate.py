"""generate — continuous-batched greedy decoding equals one-by-one decoding; outputs JSONL rows."""

import json

import pytest
import torch

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
    assert of_kind(events, "progress")[-1]["step"] == 12


def generate_with_adapter(tmp_path, model, adapter, prompts, batch_size, name, max_new=10):
    out = tmp_path / f"{name}-{batch_size}.jsonl"
    spec = write_spec(tmp_path / f"{name}-{batch_size}.json", {
        "model": str(model), "adapter": str(adapter), "outputDir": str(tmp_path),
        "generate": {"promptsFile": str(prompts), "outputFile": str(out), "maxNewTokens": max_new,
                     "batchSize": batch_size}})
    code, events = run_inprocess(["generate", "--spec", str(spec)])
    assert code == 0, events
    return [json.loads(line) for line in out.read_text().splitlines()], events


def test_rows_carry_their_own_temperature_and_bad_rows_are_named(tmp_path, sft_run, demo_dir):
    out, _ = sft_run
    model_dir = json.loads((out / "spec.json").read_text())["model"]
    rows = [json.loads(line) for line in (demo_dir / "heldout.jsonl").read_text().splitlines()][:4]
    for i, row in enumerate(rows):
        row["temperature"] = 0.7 if i % 2 else 0.0
    prompts = tmp_path / "mixed.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got, _ = generate_with_adapter(tmp_path, model_dir, out / "adapter", prompts, 4, "mixed")
    # Output order is the input order even though batches group rows by temperature.
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    greedy, _ = generate_with_adapter(tmp_path, model_dir, out / "adapter", demo_dir / "heldout.jsonl", 4, "greedy")
    by_id = {r["id"]: r for r in greedy}
    assert all(got[i] == by_id[rows[i]["id"]] for i in (0, 2))  # temperature 0 rows stay greedy

    rows[1]["temperature"] = -1
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = write_spec(tmp_path / "bad.json", {
        "model": str(model_dir), "adapter": str(out / "adapter"), "outputDir": str(tmp_path),
        "generate": {"promptsFile": str(prompts), "outputFile": str(tmp_path / "bad.jsonl"), "maxNewTokens": 4}})
    code, events = run_inprocess(["generate", "--spec", str(spec)])
    assert code == 2
    assert of_kind(events, "error")[0]["field"] == f"{prompts}:2"


@pytest.mark.parametrize("batch_size", [2, 5])
def test_continuous_batching_gives_each_prompt_its_greedy_answer_alone(tmp_path, sft_run, demo_dir, batch_size):
    """Slots are refilled as rows end (EOS or maxNewTokens), so rows of one batch start and end at
    different steps: each row must still be what transformers' greedy generate gives for that
    prompt alone (the path before continuous batching), whatever the slot count and length cap."""
    from mambalign_runtime.data import ChatEncoder, parse_messages
    from mambalign_runtime.inference import open_model
    from mambalign_runtime.spec import parse_spec

    out, _ = sft_run
    model_dir = json.loads((out / "spec.json").read_text())["model"]
    prompts = demo_dir / "heldout.jsonl"
    model, tokenizer, _, _ = open_model(parse_spec({"command": "generate", "model": model_dir,
                                                    "adapter": str(out / "adapter")}))
    encoder = ChatEncoder(tokenizer, 2048, "generate.chatTemplate")
    encoded = []
    for line in prompts.read_text().splitlines():
        messages = parse_messages(json.loads(line)["messages"], "row", "messages")
        while messages[-1]["role"] == "assistant":
            messages = messages[:-1]
        encoded.append(encoder.encode_prompt(messages))
    assert len({len(ids) for ids in encoded}) > 1
    ended_early = 0
    for max_new in (1, 4, 23):
        got, _ = generate_with_adapter(tmp_path, model_dir, out / "adapter", prompts, batch_size, f"c{max_new}", max_new)
        for row, ids in zip(got, encoded):
            with torch.no_grad():
                new = model.generate(input_ids=torch.tensor([ids]), max_new_tokens=max_new, do_sample=False,
                                     eos_token_id=tokenizer.eos_token_id,
                                     pad_token_id=tokenizer.pad_token_id)[0, len(ids):].tolist()
            n = new.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in new else len(new)
            assert (row["output"], row["tokens"]) == (tokenizer.decode(new[:n], skip_special_tokens=True), n), row["id"]
            ended_early += n < max_new
    assert ended_early > 0  # some rows ended on EOS before their cap, freeing their slot early

