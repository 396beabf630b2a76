"""model sources and metrics — resolved identity in `started`, s3:// left to the trainer (the Hub
error is in test_spec.py), the 2.8B preset's shape, MFU's formula."""

import pytest
import torch
from transformers import MambaForCausalLM

from mambalign_runtime.model_source import weights_sha256
from mambalign_runtime.preset import build_random_mamba, gpt_neox_tokenizer, mamba_2_8b_config
from mambalign_runtime.throughput import flops_per_token, mfu, peak_flops

from conftest import NEOX_TOKENIZER_DIR as NEOX, of_kind, run_inprocess, train_args, write_spec


def test_started_records_the_weights_sha256_and_cpu_metrics_are_zero(sft_run, model_dir):
    _, events = sft_run
    versions = of_kind(events, "started")[0]["versions"]
    assert versions["model.source"] == "local"
    assert versions["model.sha256"] == weights_sha256(model_dir) and len(versions["model.sha256"]) == 64
    assert versions["precision"] == "float32" and versions["world_size"] == "1"
    progress = of_kind(events, "progress")[-1]
    assert progress["mfu"] == 0 and progress["gpuMemGib"] == 0 and progress["tokensPerS"] > 0


def test_s3_model_is_left_to_the_trainer(tmp_path):
    spec = write_spec(tmp_path / "s.json", {"model": "s3://bucket/models/m", "outputDir": str(tmp_path),
                                            "train": {"trainFile": "x.jsonl", "args": train_args()}})
    code, events = run_inprocess(["sft", "--spec", str(spec)])
    (error,) = of_kind(events, "error")
    assert code == 2 and error["field"] == "model" and "stages" in error["message"]


def test_the_2_8b_preset_has_mamba_2_8b_hf_shape():
    with torch.device("meta"):
        model = MambaForCausalLM(mamba_2_8b_config())
    c = model.config
    assert (c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.state_size, c.time_step_rank,
            c.conv_kernel, c.vocab_size) == (64, 2560, 5120, 16, 160, 4, 50280)
    mixer = model.backbone.layers[0].mixer
    assert mixer.in_proj.weight.shape == (10240, 2560) and mixer.x_proj.weight.shape == (160 + 32, 5120)
    assert mixer.dt_proj.weight.shape == (5120, 160) and mixer.out_proj.weight.shape == (2560, 5120)
    n = sum(p.numel() for p in model.parameters())
    assert 2.7e9 < n < 2.8e9  # 2.77B, embeddings tied with the head


def test_the_2_8b_preset_needs_a_tokenizer(tmp_path, monkeypatch):
    monkeypatch.delenv("MAMBALIGN_TOKENIZER_DIR", raising=False)
    spec = write_spec(tmp_path / "s.json", {"model": "preset:mamba-2.8b-random", "outputDir": str(tmp_path),
                                            "train": {"trainFile": "x.jsonl", "args": train_args()}})
    code, events = run_inprocess(["sft", "--spec", str(spec)])
    (error,) = of_kind(events, "error")
    assert code == 2 and error["field"] == "tokenizer" and "MAMBALIGN_TOKENIZER_DIR" in error["message"]


def test_a_small_variant_of_the_preset_runs_with_the_gpt_neox_tokenizer():
    tokenizer = gpt_neox_tokenizer(str(NEOX))
    assert tokenizer.eos_token_id == tokenizer.pad_token_id == 0 and len(tokenizer) <= 50280
    config = mamba_2_8b_config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, time_step_rank=4)
    model, _ = build_random_mamba(config, tokenizer)
    again, _ = build_random_mamba(config, tokenizer)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))  # fixed seed
    text = tokenizer.apply_chat_template([{"role": "user", "content": "reverse abc"}], tokenize=False,
                                         add_generation_prompt=True)
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    assert model(input_ids=ids).logits.shape == (1, ids.shape[1], 50280)


def test_mfu_formula(monkeypatch):
    # Full fine-tuning: 6·P per token, 8·P with gradient checkpointing; LoRA (frozen base, no
    # weight-gradient matmuls): 4·P, 6·P with checkpointing — the bench's definition.
    p = 2_770_000_000
    assert flops_per_token(p, p, False) == 6 * p and flops_per_token(p, p, True) == 8 * p
    assert flops_per_token(p, 0, False) == 4 * p and flops_per_token(p, 0, True) == 6 * p
    assert mfu(6 * p, 10_000, 1, 989e12) == pytest.approx(6 * 2.77e13 / 989e12)
    assert mfu(6 * p, 20_000, 2, 989e12) == pytest.approx(6 * 2.77e13 / 989e12)  # per GPU
    assert mfu(1000, 10, 1, 0.0) == 0.0
    assert peak_flops(torch.device("cpu")) == 0.0
    monkeypatch.setenv("MAMBALIGN_PEAK_TFLOPS", "100")
    assert peak_flops(torch.device("cpu")) == 100e12
