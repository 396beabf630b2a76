"""sft — loss goes down, EOS is trained on, padding is masked by attention mask, artifacts are written."""

import torch

from mambalign_runtime.data import ChatEncoder, collate, token_logps
from mambalign_runtime.preset import build_char_tokenizer

from conftest import of_kind, tiny_mamba


def test_loss_goes_down_and_adapter_is_saved(sft_run):
    out, events = sft_run
    losses = [p["loss"] for p in of_kind(events, "progress")]
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < 0.9 * sum(losses[:4]) / 4
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "adapter" / "tokenizer.json").is_file()
    assert of_kind(events, "artifact") == [{"kind": "adapter", "path": str(out / "adapter")}]
    assert of_kind(events, "finished")[0]["status"] == "completed"
    final = of_kind(events, "checkpointSaved")[-1]
    assert final["reason"] == "final" and final["step"] == 16


def test_eos_is_in_the_loss_even_though_eos_equals_pad():
    tokenizer = build_char_tokenizer()
    assert tokenizer.eos_token_id == tokenizer.pad_token_id == tokenizer.bos_token_id == 0
    encoder = ChatEncoder(tokenizer, 64, "chatTemplate")
    conversation = [{"role": "user", "content": "reverse abc"}, {"role": "assistant", "content": "cba"}]
    ids, mask = encoder.encode_conversation(conversation, assistant_only=True, where="row")
    assert ids[-1] == 0 and mask[-1] == 1  # EOS closes the answer and is trained on
    assert tokenizer.decode([i for i, m in zip(ids, mask) if m]) == "cba<|endoftext|>"
    short = encoder.encode_conversation(conversation[:1] + [{"role": "assistant", "content": "c"}], True, "row")
    batch = collate([short, (ids, mask)], pad_id=0)
    n = len(short[0])
    # The short row is padded with id 0 too: those positions are out, its own EOS is in.
    assert batch["input_ids"][0, n - 1] == 0 and batch["loss_mask"][0, n - 1] == 1
    assert batch["input_ids"][0, n:].eq(0).all() and batch["loss_mask"][0, n:].eq(0).all()
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (len(ids) - n)


def test_padding_does_not_change_a_rows_loss():
    model, tokenizer = tiny_mamba(seed=1)
    model.eval()
    encoder = ChatEncoder(tokenizer, 64, "chatTemplate")
    short = encoder.encode_conversation([{"role": "user", "content": "reverse ab"},
                                         {"role": "assistant", "content": "ba"}], False, "row")
    long = encoder.encode_conversation([{"role": "user", "content": "reverse abcdef"},
                                        {"role": "assistant", "content": "fedcba"}], False, "row")
    with torch.no_grad():
        alone_logps, alone_w = token_logps(model, collate([short], 0))
        padded_logps, padded_w = token_logps(model, collate([short, long], 0))
    alone = (alone_logps * alone_w).sum()
    padded = (padded_logps[0] * padded_w[0]).sum()
    assert padded_w[0].sum() == alone_w.sum() == len(short[0]) - 1
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=0)


def test_progress_reports_real_tokens_and_padded_tokens_per_second(sft_run):
    """tokensPerS counts real tokens (what bench counts on full rows); the padded rate counts every position run."""
    _, events = sft_run
    progress = of_kind(events, "progress")
    assert all(p["extra"]["train/padded_tokens_per_s"] >= p["tokensPerS"] > 0 for p in progress)
    # The demo rows differ in length, so some micro-batch is padded.
    assert any(p["extra"]["train/padded_tokens_per_s"] > 1.01 * p["tokensPerS"] for p in progress)
