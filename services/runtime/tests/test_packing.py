"""Packing for Mamba: shards keep boundaries and masks, and a packed batch run through the
boundary-aware reference path gives each document the loss it gets when run alone."""

from __future__ import annotations

import pytest
import torch
from transformers import MambaConfig, MambaForCausalLM

import numpy as np

from mambalign_runtime.packed_mamba import (causal_conv1d_packed_ref, packed_forward, per_document_nll,
                                            selective_scan_packed_ref, target_weights)
from mambalign_runtime.packing import as_tensors, pack_documents, pad_documents, read_shard, write_shard
from mambalign_runtime.kernels.reference import causal_conv1d_ref, selective_scan_ref


def tiny_random_mamba(seed: int = 0) -> MambaForCausalLM:
    config = MambaConfig(vocab_size=64, hidden_size=16, state_size=4, num_hidden_layers=2, expand=2, conv_kernel=4,
                         bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(seed)
    model = MambaForCausalLM(config).double().eval()
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


def test_boundary_ops_without_boundaries_equal_the_plain_reference():
    torch.manual_seed(0)
    b, d, n, L = 2, 6, 4, 11
    x, w, bias = torch.randn(b, d, L, dtype=torch.float64), torch.randn(d, 4, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    one_doc = torch.zeros(b, L, dtype=torch.int32)
    assert torch.allclose(causal_conv1d_packed_ref(x, w, bias, one_doc), causal_conv1d_ref(x, w, bias))
    u, dt, z = (torch.randn(b, d, L, dtype=torch.float64) for _ in range(3))
    A, B, C = -torch.rand(d, n, dtype=torch.float64), torch.randn(b, n, L, dtype=torch.float64), torch.randn(b, n, L, dtype=torch.float64)
    D = torch.randn(d, dtype=torch.float64)
    assert torch.allclose(selective_scan_packed_ref(u, dt, A, B, C, D, z, None, True, one_doc),
                          selective_scan_ref(u, dt, A, B, C, D, z, None, True))


def test_packed_batch_gives_each_document_its_own_loss():
    model = tiny_random_mamba()
    docs = documents(2, [5, 9, 3, 7, 12, 2, 16, 4])
    packed = as_tensors(pack_documents(docs, 16, pad_id=0))
    with torch.no_grad():
        logits = packed_forward(model, packed["input_ids"], packed["seq_idx"])
        packed_nll = per_document_nll(logits, packed["input_ids"], packed["loss_mask"], packed["seq_idx"])
        alone = []
        for ids, mask in docs:
            ids_t = torch.tensor([ids])
            one = model(input_ids=ids_t).logits  # transformers' own forward, one document at a time
            seq = torch.zeros_like(ids_t)
            alone.append(per_document_nll(one, ids_t, torch.tensor([mask]), seq)[(0, 0)])
        # Documents in packing order: (row, index within row).
        order = sorted(packed_nll)
        assert len(order) == len(docs)
        for (key, expected) in zip(order, alone):
            assert torch.allclose(packed_nll[key], expected, rtol=1e-9, atol=1e-9), (key, packed_nll[key], expected)
        # Without the reset the second document of a row sees the first: its loss changes.
        leaky = model(input_ids=packed["input_ids"]).logits
        leaky_nll = per_document_nll(leaky, packed["input_ids"], packed["loss_mask"], packed["seq_idx"])
        assert not torch.allclose(leaky_nll[(0, 1)], packed_nll[(0, 1)], rtol=1e-6)


def test_padded_rows_match_too():
    model = tiny_random_mamba(1)
    docs = documents(3, [6, 10])
    rows = as_tensors(pad_documents(docs, 12, pad_id=0))
    with torch.no_grad():
        nll = per_document_nll(packed_forward(model, rows["input_ids"], rows["seq_idx"]), rows["input_ids"],
                               rows["loss_mask"], rows["seq_idx"])
        for r, (ids, mask) in enumerate(docs):
            ids_t = torch.tensor([ids])
            expected = per_document_nll(model(input_ids=ids_t).logits, ids_t, torch.tensor([mask]),
                                        torch.zeros_like(ids_t))[(0, 0)]
            assert torch.allclose(nll[(r, 0)], expected, rtol=1e-9, atol=1e-9)


def test_lora_wrapped_projections_are_used_by_the_packed_path():
    from peft import LoraConfig, get_peft_model

    model = tiny_random_mamba(2)
    # dt_proj wrapped by LoRA takes the module-call branch: its adapter must count (transformers'
    # own forward reads dt_proj.weight and would skip it).
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["in_proj", "x_proj", "dt_proj"],
                                                  init_lora_weights=False))
    inner = peft_model.base_model.model
    docs = documents(4, [6, 9])
    rows = as_tensors(pack_documents(docs, 16, pad_id=0))

    def nll(r):
        return per_document_nll(packed_forward(inner, r["input_ids"], r["seq_idx"]), r["input_ids"], r["loss_mask"],
                                r["seq_idx"])

    with torch.no_grad():
        packed = nll(rows)
        for d, doc in enumerate(docs):
            alone = nll(as_tensors(pad_documents([doc], len(doc[0]), pad_id=0)))[(0, 0)]
            assert torch.allclose(packed[(0, d)], alone, rtol=1e-9, atol=1e-9)
        # A large alpha: dt is small after softplus, so a default-sized dt_proj adapter moves the loss
        # by less than allclose notices; without the module call it would not move it at all.
        for name in ("in_proj", "x_proj", "dt_proj"):
            only = get_peft_model(tiny_random_mamba(2), LoraConfig(r=2, lora_alpha=256, target_modules=[name],
                                                                   init_lora_weights=False))
            with_adapter = nll_of(only, rows)
            with only.disable_adapter():
                without = nll_of(only, rows)
            assert not torch.allclose(with_adapter[(0, 1)], without[(0, 1)]), f"the {name} adapter changes the loss"


def nll_of(peft_model, r):
    inner = peft_model.base_model.model
    return per_document_nll(packed_forward(inner, r["input_ids"], r["seq_idx"]), r["input_ids"], r["loss_mask"],
                            r["seq_idx"])


def test_fast_kernels_give_the_reference_per_document_losses():
    """The Triton path (interpreter on CPU, tiny shapes) through the same packed forward."""
    import os

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    from mambalign_runtime.packed_mamba import fast_kernels

    model = tiny_random_mamba(5).float()
    docs = documents(6, [5, 6, 4])
    rows = as_tensors(pack_documents(docs, 16, pad_id=0))
    with torch.no_grad():
        ref = per_document_nll(packed_forward(model, rows["input_ids"], rows["seq_idx"]), rows["input_ids"],
                               rows["loss_mask"], rows["seq_idx"])
        fast = per_document_nll(packed_forward(model, rows["input_ids"], rows["seq_idx"], fast_kernels()),
                                rows["input_ids"], rows["loss_mask"], rows["seq_idx"])
    assert ref.keys() == fast.keys()
    for key in ref:
        assert torch.allclose(fast[key], ref[key], rtol=1e-4, atol=1e-4), (key, fast[key], ref[key])
