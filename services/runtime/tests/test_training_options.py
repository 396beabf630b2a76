"""training options — precision, optimisers, gradient checkpointing, full fine-tuning and
modules_to_save do what the recipe keys say."""

import math

import pytest
import torch
from safetensors.torch import load_file
from transformers.models.mamba import modeling_mamba

from mambalign_runtime.errors import InvalidInput
from mambalign_runtime.precision import resolve_precision

from conftest import dpo_args, of_kind, run_inprocess, sft_spec, write_spec

CPU = torch.device("cpu")
LORA = {"enabled": True, "r": 4, "alpha": 8}


def run(tmp_path, model_dir, demo_dir, name, command="sft", **args):
    spec = sft_spec(str(model_dir), demo_dir, tmp_path / name, **{"maxSteps": 2, "perDeviceTrainBatchSize": 4, **args})
    spec["command"] = command
    if command == "dpo":
        spec["train"]["trainFile"] = str(demo_dir / "dpo_train.jsonl")
        spec["train"]["dpo"] = dpo_args()
    return run_inprocess([command, "--spec", str(write_spec(tmp_path / f"{name}.json", spec))])


@pytest.mark.parametrize("torch_dtype,bf16,compute", [
    ("", False, None), ("auto", False, None),  # auto on a CPU: plain float32
    ("float32", False, None), ("float32", True, torch.bfloat16), ("bfloat16", False, torch.bfloat16),
    ("", True, torch.bfloat16), ("float16", False, torch.float16),
])
def test_torch_dtype_maps_to_fp32_master_weights_and_an_autocast_dtype(torch_dtype, bf16, compute):
    precision = resolve_precision(torch_dtype, bf16, CPU)
    assert precision.master is torch.float32 and precision.compute is compute
    assert precision.needs_scaler == (compute is torch.float16)


def test_contradicting_dtypes_are_refused():
    with pytest.raises(InvalidInput) as err:
        resolve_precision("float16", True, CPU)
    assert err.value.field == "train.args.torchDtype" and "bf16" in err.value.message


def test_float16_trains_with_a_gradient_scaler_that_is_checkpointed(tmp_path, model_dir, demo_dir):
    code, events = run(tmp_path, model_dir, demo_dir, "fp16", torchDtype="float16", lora=LORA)
    assert code == 0, events
    assert of_kind(events, "started")[0]["versions"]["precision"] == "float16-autocast"
    assert all(math.isfinite(p["loss"]) for p in of_kind(events, "progress"))
    assert (tmp_path / "fp16" / "checkpoints" / "step-2" / "scaler.pt").is_file()


@pytest.mark.parametrize("optim,field_words", [
    ("paged_adamw_32bit", ["bitsandbytes", "pip install bitsandbytes=="]),
    ("adamw_8bit", ["bitsandbytes"]),
])
def test_bitsandbytes_optimisers_and_4bit_fail_clearly_without_it(tmp_path, model_dir, demo_dir, optim, field_words):
    try:
        import bitsandbytes  # noqa: F401
        pytest.skip("bitsandbytes is installed here")
    except ImportError:
        pass
    code, events = run(tmp_path, model_dir, demo_dir, optim, optim=optim, lora=LORA)
    (error,) = of_kind(events, "error")
    assert code == 2 and error["field"] == "train.args.optim"
    for word in field_words:
        assert word in error["message"]
    code, events = run(tmp_path, model_dir, demo_dir, "q4", lora={**LORA, "loadIn4bit": True})
    (error,) = of_kind(events, "error")
    assert code == 2 and error["field"] == "train.args.lora.loadIn4bit" and "pip install bitsandbytes" in error["message"]


def test_adamw_torch_leaves_the_implementation_to_torch(monkeypatch):
    """adamw_torch gets torch's default, the multi-tensor update on a GPU: an explicit fused=False
    also turns that off (one launch per op and tensor, ~45 ms a step for the 2.8B LoRA)."""
    from torch.optim import adam

    from mambalign_runtime import optim

    picked = []
    real = adam._default_to_fused_or_foreach

    def spy(params, differentiable, use_fused=False):
        fused, foreach = real(params, differentiable, use_fused)
        picked.append(True)
        return fused, True  # as on a GPU, where torch picks foreach
    monkeypatch.setattr(adam, "_default_to_fused_or_foreach", spy)
    p = torch.nn.Parameter(torch.ones(3))
    opt = optim.build("adamw_torch", [p], CPU, 1e-2, (0.9, 0.999), 1e-8, 0.0)
    p.grad = torch.ones(3)
    opt.step()
    assert picked, "torch's default implementation choice was bypassed"
    assert optim.build("adamw_torch_fused", [p], CPU, 1e-2, (0.9, 0.999), 1e-8, 0.0).defaults["fused"] is True


def test_fused_adamw_gives_the_same_losses(tmp_path, model_dir, demo_dir):
    _, plain = run(tmp_path, model_dir, demo_dir, "plain", lora=LORA, maxSteps=3)
    _, fused = run(tmp_path, model_dir, demo_dir, "fused", lora=LORA, maxSteps=3, optim="adamw_torch_fused")
    for a, b in zip(of_kind(plain, "progress"), of_kind(fused, "progress"), strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5


def test_gradient_checkpointing_recomputes_blocks_and_keeps_the_losses(tmp_path, model_dir, demo_dir, monkeypatch):
    calls = []
    original = modeling_mamba.MambaBlock.forward

    def counting(self, *args, **kwargs):
        calls.append(torch.is_grad_enabled())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(modeling_mamba.MambaBlock, "forward", counting)
    _, plain = run(tmp_path, model_dir, demo_dir, "nogc", lora=LORA, maxSteps=1)
    plain_calls = len(calls)
    calls.clear()
    _, checkpointed = run(tmp_path, model_dir, demo_dir, "gc", lora=LORA, maxSteps=1, gradientCheckpointing=True)
    assert plain_calls == 2  # two layers, one forward each
    assert len(calls) == 4  # and each recomputed in the backward pass
    assert abs(of_kind(plain, "progress")[0]["loss"] - of_kind(checkpointed, "progress")[0]["loss"]) < 1e-6
    assert of_kind(plain, "progress")[0]["gradNorm"] == pytest.approx(of_kind(checkpointed, "progress")[0]["gradNorm"],
                                                                      rel=1e-5)


def test_full_fine_tuning_trains_every_weight(tmp_path, model_dir, demo_dir):
    code, events = run(tmp_path, model_dir, demo_dir, "full", maxSteps=2)
    assert code == 0 and of_kind(events, "artifact") == [{"kind": "model", "path": str(tmp_path / "full" / "model")}]
    before = load_file(model_dir / "model.safetensors")
    after = load_file(tmp_path / "full" / "model" / "model.safetensors")
    assert before.keys() == after.keys()
    assert all(after[k].dtype == torch.float32 for k in after)  # fp32 master weights
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert unchanged == []


def test_full_fine_tuning_dpo_uses_the_precomputed_reference(tmp_path, model_dir, demo_dir):
    code, events = run(tmp_path, model_dir, demo_dir, "dpo-full", command="dpo", maxSteps=2, learningRate=0.001)
    assert code == 0, events
    # Step 1's policy is the reference: h = 0, the sigmoid loss is ln 2.
    assert abs(of_kind(events, "progress")[0]["loss"] - math.log(2)) < 1e-6
    assert (tmp_path / "dpo-full" / "model" / "model.safetensors").is_file()


def test_modules_to_save_are_trained_and_saved_with_the_adapter(tmp_path, model_dir, demo_dir):
    code, events = run(tmp_path, model_dir, demo_dir, "mts", lora={**LORA, "modulesToSave": ["norm_f"]})
    assert code == 0, events
    adapter = load_file(tmp_path / "mts" / "adapter" / "adapter_model.safetensors")
    (key,) = [k for k in adapter if "norm_f" in k]
    base = load_file(model_dir / "model.safetensors")["backbone.norm_f.weight"]
    assert not torch.equal(adapter[key], base)
