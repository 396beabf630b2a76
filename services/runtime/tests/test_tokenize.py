"""The `tokenize` command: normalised JSONL in, shards with loss masks and boundaries and the
statistics of the dataset card out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mambalign_runtime.packing import read_shard
from mambalign_runtime.tokenize import load_tokenizer, length_histogram
from conftest import run_inprocess
from test_tokenize_parity import TOKENIZER


def conv(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tokenize_packs_sft_rows_with_assistant_only_masks(tmp_path):
    rows = [conv(f"What is {i} plus {i}?", f"It is {2 * i}.") for i in range(30)] + [conv("long " * 300, "ok")]
    src = write_rows(tmp_path / "train.jsonl", rows)
    code, events = run_inprocess(["tokenize", "--input", str(src), "--tokenizer", str(TOKENIZER), "--out",
                                  str(tmp_path / "out"), "--max-length", "64", "--pack", "--assistant-only",
                                  "--shard-rows", "16"])
    assert code == 0, events
    stats = json.loads((tmp_path / "out" / "train-tokens.json").read_text())
    assert stats["documents"] == 31 and stats["truncated"] == 1
    assert abs(stats["truncationRate"] - 1 / 31) < 1e-12
    assert sum(stats["histogram"]["counts"]) == 31
    assert stats["shards"] == ["train-00000.safetensors", "train-00001.safetensors"]
    artifacts = [e["artifact"]["path"] for e in events if "artifact" in e]
    assert [Path(p).name for p in artifacts] == stats["shards"] + ["train-tokens.json"]

    tok = load_tokenizer(str(TOKENIZER))
    shard = read_shard(tmp_path / "out" / "train-00000.safetensors")
    assert shard.input_ids.shape[1] == 64
    assert shard.seq_idx[0, 0] == 0 and int(shard.seq_idx[0].max()) >= 1, "several documents share a row"
    # The first document decodes back to its rendering, and only its answer (+ EOS) is trained on.
    first = shard.input_ids[0][shard.seq_idx[0] == 0].tolist()
    decode = lambda ids: tok.tokenizer.decode(ids, skip_special_tokens=False)  # noqa: E731
    assert decode(first) == "<|user|>\nWhat is 0 plus 0?<|endoftext|>\n<|assistant|>\nIt is 0.<|endoftext|>\n"
    trained = shard.input_ids[0][(shard.seq_idx[0] == 0) & (shard.loss_mask[0] == 1)].tolist()
    assert decode(trained) == "It is 0.<|endoftext|>\n"
    assert np.all(shard.loss_mask[shard.seq_idx < 0] == 0)


def test_tokenize_preference_rows_gives_statistics_only(tmp_path):
    row = {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
           "rejected": [{"role": "assistant", "content": "5"}]}
    src = write_rows(tmp_path / "p.jsonl", [row] * 3)
    # Several splits in one run: SPLIT=PATH.
    code, _ = run_inprocess(["tokenize", "--input", f"train={src}", "--input", f"test={src}", "--tokenizer",
                             str(TOKENIZER), "--out", str(tmp_path / "o"), "--kind", "preference"])
    assert code == 0
    for split in ("train", "test"):
        stats = json.loads((tmp_path / "o" / f"{split}-tokens.json").read_text())
        assert stats["documents"] == 6 and stats["shards"] == [] and stats["truncated"] == 0


def test_bad_input_is_an_error_event_naming_the_input(tmp_path):
    src = write_rows(tmp_path / "bad.jsonl", [{"text": "no messages"}])
    code, events = run_inprocess(["tokenize", "--input", str(src), "--tokenizer", str(TOKENIZER), "--out",
                                  str(tmp_path / "o")])
    assert code == 2
    assert "messages" in events[-1]["error"]["message"]


def test_tokenize_from_a_spec_as_the_datasets_service_runs_it(tmp_path):
    row = {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
           "rejected": [{"role": "assistant", "content": "5"}]}
    src = write_rows(tmp_path / "p.jsonl", [row] * 3)
    spec = {"command": "tokenize", "tokenizer": str(TOKENIZER), "outputDir": str(tmp_path / "o"),
            "tokenize": {"inputs": {"train": str(src), "test": str(src)}, "kind": "preference", "maxLength": 64}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code, events = run_inprocess(["tokenize", "--spec", str(tmp_path / "spec.json")])
    assert code == 0, events
    for split in ("train", "test"):
        stats = json.loads((tmp_path / "o" / f"{split}-tokens.json").read_text())
        assert stats["documents"] == 6 and stats["maxLength"] == 64
    bad = write_rows(tmp_path / "bad.jsonl", [{"text": "no messages"}])
    spec["tokenize"] = {"inputs": {"train": str(bad)}, "kind": "sft"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code, events = run_inprocess(["tokenize", "--spec", str(tmp_path / "spec.json")])
    assert code == 2
    assert events[-1]["error"]["field"] == "tokenize.inputs" and "messages" in events[-1]["error"]["message"]


def test_length_histogram_bins_cover_every_length():
    h = length_histogram([0, 1, 5, 31, 32, 100], bins=4)
    assert h["edges"] == [0, 26, 52, 78, 104] and h["counts"] == [3, 2, 0, 1]
