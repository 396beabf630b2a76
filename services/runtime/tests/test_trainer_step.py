"""The trainer's step does the bench's GPU work with the trainer's numbers: the chunked lm_head +
cross-entropy gives the full-logits loss and gradients, right padding needs no attention mask,
frozen matmul weights in the autocast dtype and 16-bit activations into the mixer change no
forward value (fp32 master weights under bf16 autocast, the fast path on Triton's interpreter)."""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from peft import LoraConfig, get_peft_model  # noqa: E402

from mambalign_runtime import kernels, lm_loss  # noqa: E402
from mambalign_runtime.data import collate, token_logps  # noqa: E402
from mambalign_runtime.kernels import patch  # noqa: E402
from mambalign_runtime.lora import MAMBA_DEFAULT_TARGETS, WEIGHT_READ_MODULES, mamba_targets_allowed, wire_lora_layers  # noqa: E402
from mambalign_runtime.precision import store_frozen_matmul_weights  # noqa: E402

from conftest import tiny_mamba  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def lora_model(seed: int, full: bool = False, **shape):
    model, _ = tiny_mamba(seed=seed, **shape)
    model = model.to(DEVICE).train()
    if full:
        return model
    with mamba_targets_allowed():
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=list(MAMBA_DEFAULT_TARGETS)))
    wire_lora_layers(model)
    for n, p in model.named_parameters():  # lora_B is zero at init: give every adapter a gradient path
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.1)
    return model


def loss_and_grads(model, fn, autocast=False):
    model.zero_grad(set_to_none=True)
    with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=autocast):
        loss = fn()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("full", [False, True], ids=["lora", "full-fine-tuning"])
def test_chunked_loss_gives_the_full_logits_loss_and_gradients(monkeypatch, full):
    model = lora_model(seed=1, full=full)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 104, (3, 17), generator=gen).to(DEVICE)
    weights = (torch.rand(3, 16, generator=gen) > 0.3).float().to(DEVICE)
    monkeypatch.setattr(lm_loss, "CHUNK_TOKENS", 7)  # several chunks, the last one short
    plain, plain_grads = loss_and_grads(model, lambda: lm_loss.plain_next_token_nll(model, ids, weights))
    chunked, chunked_grads = loss_and_grads(model, lambda: lm_loss.next_token_nll(model, ids, weights))
    torch.testing.assert_close(chunked, plain, rtol=1e-6, atol=0)
    assert plain_grads.keys() == chunked_grads.keys()
    if full:  # the tied embedding / lm_head gets its gradient through the chunks too
        assert "lm_head.weight" in chunked_grads or "backbone.embeddings.weight" in chunked_grads
    for n, g in plain_grads.items():
        assert rel_err(chunked_grads[n], g) < 1e-5, n


def test_chunked_loss_under_bf16_autocast_rounds_as_the_lm_head_would(monkeypatch):
    model = lora_model(seed=2)
    gen = torch.Generator().manual_seed(2)
    ids = torch.randint(1, 104, (2, 21), generator=gen).to(DEVICE)
    weights = torch.ones(2, 20, device=DEVICE)
    monkeypatch.setattr(lm_loss, "CHUNK_TOKENS", 16)
    plain, plain_grads = loss_and_grads(model, lambda: lm_loss.plain_next_token_nll(model, ids, weights), True)
    chunked, chunked_grads = loss_and_grads(model, lambda: lm_loss.next_token_nll(model, ids, weights), True)
    # Same bf16 logits, fp32 softmax: only the fp32 summation order differs.
    torch.testing.assert_close(chunked, plain, rtol=1e-5, atol=0)
    for n, g in plain_grads.items():
        assert rel_err(chunked_grads[n], g) < 1e-2, n


def test_float16_keeps_the_full_logits_loss_for_its_gradient_scaler(monkeypatch):
    """The chunked loss rounds its gradient before the backward; float16 would flush small
    gradients to zero there without the scaler's factor, so it takes the plain path."""
    model = lora_model(seed=6)
    ids = torch.randint(1, 104, (2, 9), generator=torch.Generator().manual_seed(6)).to(DEVICE)
    used = []
    monkeypatch.setattr(lm_loss.ChunkedLinearNll, "apply", lambda *a: used.append("chunked"))
    with torch.autocast(DEVICE, dtype=torch.float16):
        loss = lm_loss.next_token_nll(model, ids, torch.ones(2, 8, device=DEVICE))
    assert not used and loss.requires_grad
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        lm_loss.next_token_nll(model, ids, torch.ones(2, 8, device=DEVICE))
    assert used == ["chunked"]


def test_right_padded_rows_need_no_attention_mask():
    """The trainer's loss runs the model without the mask: padding sits after every scored token."""
    model = lora_model(seed=3)
    gen = torch.Generator().manual_seed(3)
    rows = [(torch.randint(1, 104, (n,), generator=gen).tolist(), [1] * n) for n in (9, 15, 4)]
    batch = {k: v.to(DEVICE) for k, v in collate(rows, pad_id=0).items()}

    def masked():
        logps, weights = token_logps(model, batch)  # passes attention_mask to the model
        return -(logps * weights).sum()

    want, want_grads = loss_and_grads(model, masked)
    got, got_grads = loss_and_grads(model, lambda: lm_loss.next_token_nll(model, batch["input_ids"],
                                                                          batch["loss_mask"][:, 1:]))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)
    for n, g in want_grads.items():
        assert rel_err(got_grads[n], g) < 1e-5, n


def test_frozen_projections_take_the_autocast_dtype_and_nothing_else_does():
    model = lora_model(seed=4)
    cast = store_frozen_matmul_weights(model, torch.bfloat16, WEIGHT_READ_MODULES)
    assert sorted({n.split(".mixer.")[1] for n in cast}) == ["in_proj.base_layer", "out_proj.base_layer",
                                                            "x_proj.base_layer"]
    for n, p in model.named_parameters():
        want = torch.bfloat16 if any(n.startswith(c + ".") for c in cast) else torch.float32
        assert p.dtype == want, n  # adapters, dt_proj, norms, A_log, D, conv, tied embedding stay fp32
    assert store_frozen_matmul_weights(model, None) == []


def test_fp32_master_weights_under_autocast_run_the_mixer_on_16_bit_activations(restore_reference):
    """The fast path with the trainer's precision (fp32 weights, bf16 autocast, LoRA):
    the mixer gets bf16 input (no fp32 (b, L, d) copies), with the same loss as transformers' dtype
    rules give, and gradients to bf16 rounding."""
    kernels.install("fast")
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(1, 104, (2, 16), generator=gen).to(DEVICE)
    weights = torch.ones(2, 15, device=DEVICE)
    results = {}
    for variant in ("before", "after"):
        model = lora_model(seed=5, hidden=16, layers=1)  # small: Triton's interpreter runs the scan
        seen = []
        for layer in model.base_model.model.backbone.layers:
            layer.mixer.register_forward_pre_hook(lambda m, args, kw: seen.append(args[0].dtype), with_kwargs=True)
        if variant == "after":
            store_frozen_matmul_weights(model, torch.bfloat16, WEIGHT_READ_MODULES)
            results[variant] = loss_and_grads(model, lambda: lm_loss.next_token_nll(model, ids, weights), True)
        else:
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(patch, "_mixer_input_dtype", lambda mixer, device: None)  # transformers' dtype rule
                results[variant] = loss_and_grads(model, lambda: lm_loss.next_token_nll(model, ids, weights), True)
        assert set(seen) == {torch.float32 if variant == "before" else torch.bfloat16}
    (loss_before, grads_before), (loss_after, grads_after) = results["before"], results["after"]
    torch.testing.assert_close(loss_after, loss_before, rtol=0, atol=0)
    assert grads_after.keys() == grads_before.keys() and len(grads_after) == 2 * len(MAMBA_DEFAULT_TARGETS)
    for n, g in grads_before.items():
        assert rel_err(grads_after[n], g) < 2e-2, n


@pytest.fixture
def restore_reference():
    yield
    kernels.install("reference")
