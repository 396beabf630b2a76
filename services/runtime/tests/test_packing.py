"""Packing for Mamba: shards keep boundaries and masks, and a packed batch run through the fast
path under `kernels.packed_sequences` gives each document the loss it gets when run alone (the
kernels run in Triton's CPU interpreter here)."""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
from transformers import MambaConfig, MambaForCausalLM

import numpy as np

from mambalign_runtime import kernels
from mambalign_runtime.data import next_token_logps
from mambalign_runtime.packing import as_tensors, pack_documents, pad_documents, read_shard, target_weights, write_shard


def tiny_random_mamba(seed: int = 0) -> MambaForCausalLM:
    config = MambaConfig(vocab_size=64, hidden_size=16, state_size=4, num_hidden_layers=2, expand=2, conv_kernel=4,
                         bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(seed)
    model = MambaForCausalLM(config).eval()
    # Random (not the S4D init) dt and conv weights, so a leaked state would change every loss.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def documents(seed: int, lengths: list[int]) -> list[tuple[list[int], list[int]]]:
    g = torch.Generator().manual_seed(seed)
    docs = []
    for n in lengths:
        ids = torch.randint(1, 64, (n,), generator=g).tolist()
        # An assistant-only style mask: the second half of each document is trained on.
        mask = [0] * (n // 2) + [1] * (n - n // 2)
        docs.append((ids, mask))
    return docs


def test_pack_documents_keeps_order_boundaries_and_masks(tmp_path):
    docs = documents(1, [5, 9, 3, 7, 12, 2])
    packed = pack_documents(docs, 16, pad_id=0)
    # 5+9 | 3+7 (12 would overflow) | 12+2
    assert packed.seq_idx.tolist()[0] == [0] * 5 + [1] * 9 + [-1] * 2
    assert packed.seq_idx.tolist()[1] == [0] * 3 + [1] * 7 + [-1] * 6
    assert packed.seq_idx.tolist()[2] == [0] * 12 + [1] * 2 + [-1] * 2
    flat = [t for r in range(len(packed)) for t, s in zip(packed.input_ids[r].tolist(), packed.seq_idx[r].tolist())
            if s >= 0]
    assert flat == [t for ids, _ in docs for t in ids]
    assert int(packed.loss_mask.sum()) == sum(sum(m) for _, m in docs)
    write_shard(tmp_path / "s.safetensors", packed)
    back = read_shard(tmp_path / "s.safetensors")
    assert np.array_equal(back.input_ids, packed.input_ids) and np.array_equal(back.seq_idx, packed.seq_idx)
    assert np.array_equal(back.loss_mask, packed.loss_mask)
    with pytest.raises(ValueError, match="document 0: length 17"):
        pack_documents([([1] * 17, [1] * 17)], 16, 0)


def test_target_weights_never_cross_a_boundary():
    packed = as_tensors(pack_documents([([1, 2, 3], [1, 1, 1]), ([4, 5], [1, 1])], 6, 0))
    # Targets: 2, 3 (doc 0); 4 is doc 1's first token (no target); 5; padding none.
    assert target_weights(packed["loss_mask"], packed["seq_idx"]).tolist() == [[True, True, False, True, False]]


def per_document_nll(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor,
                     seq_idx: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
    """Summed next-token NLL per (row, document) over loss-masked targets within the document."""
    picked = next_token_logps(logits.float(), input_ids)
    weights = target_weights(loss_mask, seq_idx)
    out: dict[tuple[int, int], torch.Tensor] = {}
    for r in range(input_ids.shape[0]):
        for d in torch.unique(seq_idx[r]).tolist():
            if d >= 0:
                out[(r, int(d))] = -(picked[r][weights[r] & (seq_idx[r, 1:] == d)]).sum()
    return out


@pytest.fixture
def fast_then_reference():
    kernels.install("fast")
    yield
    kernels.install("reference")


def packed_nll(model, rows) -> dict[tuple[int, int], torch.Tensor]:
    kernels.install("fast")
    with kernels.packed_sequences(model, rows["seq_idx"]):
        logits = model(input_ids=rows["input_ids"], use_cache=False).logits
    return per_document_nll(logits, rows["input_ids"], rows["loss_mask"], rows["seq_idx"])


def alone_nll(model, docs) -> list[torch.Tensor]:
    """Each document through the same model, one at a time, no boundaries given. (The fast path,
    as transformers' own forward would skip a LoRA adapter on dt_proj; that the fast path equals
    transformers' otherwise is test_kernels_model's business.)"""
    kernels.install("fast")
    out = []
    for ids, mask in docs:
        ids_t = torch.tensor([ids])
        out.append(per_document_nll(model(input_ids=ids_t).logits, ids_t, torch.tensor([mask]),
                                    torch.zeros_like(ids_t))[(0, 0)])
    return out


@pytest.mark.parametrize("layout", ["packed", "padded"])
def test_packed_batch_gives_each_document_its_own_loss(fast_then_reference, layout):
    from peft import LoraConfig, get_peft_model

    # LoRA on dt_proj too: a wrapped dt_proj takes the module-call branch of the fast mixer.
    model = get_peft_model(tiny_random_mamba(2), LoraConfig(r=2, lora_alpha=4, init_lora_weights=False,
                                                            target_modules=["in_proj", "x_proj", "dt_proj"]))
    docs = documents(2, [5, 9, 3, 7, 12, 2, 16, 4] if layout == "packed" else [6, 10])
    rows = as_tensors((pack_documents if layout == "packed" else pad_documents)(docs, 16, pad_id=0))
    with torch.no_grad():
        got = packed_nll(model, rows)
        expected = alone_nll(model, docs)
        order = sorted(got)  # documents in packing order: (row, index within row)
        assert len(order) == len(docs)
        for key, want in zip(order, expected):
            assert torch.allclose(got[key], want, rtol=1e-4, atol=1e-4), (key, got[key], want)
        if layout == "packed":
            # Without the reset the second document of a row sees the first: its loss changes.
            leaky = model(input_ids=rows["input_ids"]).logits
            leaky_nll = per_document_nll(leaky, rows["input_ids"], rows["loss_mask"], rows["seq_idx"])
            assert not torch.allclose(leaky_nll[(0, 1)], got[(0, 1)], rtol=1e-3)
