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
