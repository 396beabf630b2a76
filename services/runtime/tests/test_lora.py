"""lora — adapters on in_proj, x_proj, dt_proj and out_proj (past peft's Mamba guard) all train."""

import pytest
import torch
from peft import LoraConfig, get_peft_model

from mambalign_runtime.data import ChatEncoder, collate, token_logps
from mambalign_runtime.lora import DtProjLoraLinear
from mambalign_runtime.modeling import add_lora, lora_config

from conftest import tiny_mamba

TARGETS = ["in_proj", "x_proj", "dt_proj", "out_proj"]


def batch(tokenizer):
    encoder = ChatEncoder(tokenizer, 64, "chatTemplate")
    rows = [encoder.encode_conversation([{"role": "user", "content": f"reverse {w}"},
                                         {"role": "assistant", "content": w[::-1]}], False, "row")
            for w in ("abc", "hello", "mamba")]
    return collate(rows, 0)


def test_every_adapter_gets_gradient_and_changes():
    model, tokenizer = tiny_mamba(seed=2)
    config = lora_config(model, r=4, alpha=8, dropout=0.0, targets=[], modules_to_save=[], field="lora")
    assert sorted(config.target_modules) == sorted(TARGETS)  # the Mamba default
    peft_model = add_lora(model, config, "lora")
    assert all(isinstance(peft_model.get_submodule(f"base_model.model.backbone.layers.{i}.mixer.dt_proj"),
                          DtProjLoraLinear) for i in range(2))
    adapters = {n: p for n, p in peft_model.named_parameters() if "lora_" in n}
    assert {n.split(".")[-4] for n in adapters} == set(TARGETS)
    initial = {n: p.detach().clone() for n, p in adapters.items()}
    optimizer = torch.optim.AdamW(adapters.values(), lr=0.01)
    data = batch(tokenizer)
    for _ in range(2):  # B starts at zero, so A's gradient appears from the second step
        optimizer.zero_grad()
        logps, weights = token_logps(peft_model, data)
        (-(logps * weights).sum() / weights.sum()).backward()
        grads = {n: p.grad for n, p in adapters.items()}
        optimizer.step()
    for name, grad in grads.items():
        assert grad is not None and grad.abs().sum() > 0, f"no gradient reached {name}"
        assert not torch.equal(adapters[name].detach(), initial[name]), f"{name} did not change"


def test_dt_proj_adapter_changes_the_output_and_disabling_restores_the_base():
    model, tokenizer = tiny_mamba(seed=3)
    data = batch(tokenizer)
    with torch.no_grad():
        base_logits = model(input_ids=data["input_ids"]).logits.clone()
    peft_model = add_lora(model, lora_config(model, 4, 8, 0.0, ["dt_proj"], [], "lora"), "lora")
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    peft_model.eval()
    with torch.no_grad():
        adapted = peft_model(input_ids=data["input_ids"]).logits
        with peft_model.disable_adapter():
            disabled = peft_model(input_ids=data["input_ids"]).logits
    assert (adapted - base_logits).abs().max() > 1e-3
    torch.testing.assert_close(disabled, base_logits)


def test_peft_guard_is_only_lifted_inside_the_runtime():
    model, _ = tiny_mamba()
    with pytest.raises(ValueError, match="incompatible with Mamba"):
        get_peft_model(model, LoraConfig(r=2, target_modules=["out_proj"]))


def _forward_and_grads(model, ids, fused: bool, autocast: bool):
    from peft.tuners.lora import layer as lora_layer

    from mambalign_runtime.lora import FusedLoraLinear

    if not fused:  # peft's own forward on the same modules
        for module in model.modules():
            if isinstance(module, FusedLoraLinear):
                module.forward = lora_layer.Linear.forward.__get__(module)
    adapters = {n: p for n, p in model.named_parameters() if p.requires_grad}
    for p in adapters.values():
        p.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=ids).logits
    logits.float().square().mean().backward()
    return logits.detach().float(), {n: p.grad.clone() for n, p in adapters.items()}


def test_fused_lora_forward_matches_peft_outputs_and_gradients():
    model, tokenizer = tiny_mamba(seed=4)
    peft_model = add_lora(model, lora_config(model, 4, 8, 0.0, [], [], "lora"), "lora")
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # non-zero B, so the adapter product is part of every output
            torch.nn.init.normal_(p, std=0.3)
    ids = batch(tokenizer)["input_ids"]
    from mambalign_runtime.lora import FusedLoraLinear

    layers = [m for m in peft_model.modules() if isinstance(m, FusedLoraLinear)]
    assert len(layers) == 8 and all(m._fusable((), {}) for m in layers)
    fused = _forward_and_grads(peft_model, ids, True, False)
    fused_bf16 = _forward_and_grads(peft_model, ids, True, True)
    peft_fp32 = _forward_and_grads(peft_model, ids, False, False)

    def rel(a, b):  # norm-wise relative error
        return ((a - b).norm() / b.norm()).item()

    assert fused[1].keys() == peft_fp32[1].keys() and len(fused[1]) == 16  # 2 layers x 4 projections x (A, B)
    # fp32: the same sums in another order.
    assert rel(fused[0], peft_fp32[0]) < 1e-5
    for name in fused[1]:
        assert rel(fused[1][name], peft_fp32[1][name]) < 1e-5, name
    # bf16 autocast: one bf16 rounding is ~2e-3 norm-wise; through two layers and back, peft's own
    # bf16 path lands 1e-2 to 3e-2 from fp32 on these gradients (the fused path the same or closer).
    assert rel(fused_bf16[0], peft_fp32[0]) < 2e-2
    for name in fused[1]:
        assert rel(fused_bf16[1][name], peft_fp32[1][name]) < 4e-2, name


def test_fused_lora_output_needs_no_gradient_copies():
    # An in-place add into a view of the output would put CopySlices/AsStrided nodes in the graph:
    # a full copy of the output's gradient per layer and step.
    model, _ = tiny_mamba(seed=6)
    peft_model = add_lora(model, lora_config(model, 4, 8, 0.0, ["in_proj"], [], "lora"), "lora")
    layer = peft_model.get_submodule("base_model.model.backbone.layers.0.mixer.in_proj")
    out = layer(torch.randn(2, 5, layer.in_features, requires_grad=True))
    seen, stack = set(), [out.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            stack.extend(next_fn for next_fn, _ in fn.next_functions)
    names = {type(fn).__name__ for fn in seen}
    assert "AddmmBackward0" in names and not {n for n in names if "AsStrided" in n or "CopySlices" in n}, names


def test_fused_lora_falls_back_to_peft_when_merged_or_disabled():
    model, tokenizer = tiny_mamba(seed=5)
    peft_model = add_lora(model, lora_config(model, 4, 8, 0.0, ["in_proj"], [], "lora"), "lora").eval()
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.3)
    ids = batch(tokenizer)["input_ids"]
    with torch.no_grad():
        adapted = peft_model(input_ids=ids).logits
        with peft_model.disable_adapter():
            disabled = peft_model(input_ids=ids).logits
        peft_model.merge_adapter()
        merged = peft_model(input_ids=ids).logits
    assert (adapted - disabled).abs().max() > 1e-3
    torch.testing.assert_close(merged, adapted, rtol=1e-4, atol=1e-5)
