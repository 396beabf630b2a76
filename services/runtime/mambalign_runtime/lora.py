"""LoRA on every Mamba projection, past peft's Mamba guard, with gradients that really flow.

peft 0.21 refuses `out_proj` and `conv1d` on Mamba models because mamba_ssm's fused
training kernel reads those weights directly. Our paths (transformers' reference code and
the Triton kernels) call `in_proj`, `x_proj` and `out_proj` as modules, so LoRA on them is
correct; we lift the guard for `out_proj` only, inside `mamba_targets_allowed()`.

`dt_proj` is the exception even on the reference path: MambaMixer computes
`self.dt_proj.weight @ x` instead of calling the module, so a plain peft layer there would
get no gradient. `DtProjLoraLinear` makes `.weight` return the *effective* weight
(base + scaled B@A of the active adapters), so that read sees the adapter, while the
module call, merging, saving and `disable_adapter()` keep peft's own behaviour.

Speed: peft's LoRA forward casts the input to the adapter's dtype (a full fp32 copy of every
activation under bf16 autocast), then adds `lora_B(lora_A(x)) * scaling` to the base output
with two more full passes. `FusedLoraLinear` computes the same sum with the adapter product
accumulated into the base output by one GEMM (`addmm_`, beta 1) and lets autocast pick the
dtype; at the 2.8B shape that removes ~5 GB of memory traffic per layer and pass.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from peft.tuners import tuners_utils
from torch import nn
from torch.nn import functional as F
from peft.tuners.lora import layer as lora_layer

MAMBA_MODEL_TYPES = {"mamba", "falcon_mamba"}
MAMBA_DEFAULT_TARGETS = ["in_proj", "x_proj", "dt_proj", "out_proj"]
# Modules whose weights the Mamba mixer reads directly; LoRA there needs DtProjLoraLinear.
WEIGHT_READ_MODULES = ("dt_proj",)
# conv1d's weight is read directly by the conv functions and peft has no grouped-conv LoRA that
# would survive that: refuse it with a clear message instead of training a dead adapter.
UNSUPPORTED_MAMBA_TARGETS = ("conv1d",)


@contextmanager
def mamba_targets_allowed() -> Iterator[None]:
    """Let peft put LoRA on Mamba's `out_proj` (still refusing `conv1d`) inside this block."""
    original = tuners_utils._check_lora_target_modules_mamba

    def check(peft_config, model, target_name):
        if target_name != "out_proj":
            original(peft_config, model, target_name)

    tuners_utils._check_lora_target_modules_mamba = check
    try:
        yield
    finally:
        tuners_utils._check_lora_target_modules_mamba = original


def _linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    # Under autocast F.linear casts both sides itself; without it the dtypes must match.
    if not torch.is_autocast_enabled(x.device.type):
        x = x.to(weight.dtype)
    return F.linear(x, weight)


class FusedLoraLinear(lora_layer.Linear):
    """peft's LoRA Linear, with `base(x) + scaling * B(A(dropout(x)))` summed inside one GEMM.

    Anything beyond plain adapters on an `nn.Linear` (merged or disabled adapters, DoRA and other
    variants, a bias on lora_B, per-call adapter names) takes peft's own forward."""

    def _fusable(self, args, kwargs) -> bool:
        if args or kwargs or self.disable_adapters or self.merged or type(self.get_base_layer()) is not nn.Linear:
            return False
        return all(name not in self.lora_variant and self.lora_B[name].bias is None
                   for name in self.active_adapters if name in self.lora_A)

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if not self._fusable(args, kwargs):
            return super().forward(x, *args, **kwargs)
        # 2-D throughout: an in-place op on a view of the output would make autograd copy the
        # whole gradient (as_strided backward) for every layer.
        flat = x.reshape(-1, x.shape[-1])
        out = self.base_layer(flat)
        for name in self.active_adapters:
            if name not in self.lora_A:
                continue
            down = _linear(self.lora_dropout[name](flat), self.lora_A[name].weight).to(out.dtype)
            up = (self.lora_B[name].weight * self.scaling[name]).to(out.dtype)
            # In place is safe: the base GEMM's backward needs x and W, not its output.
            out.addmm_(down, up.t())
        return out.view(*x.shape[:-1], out.shape[-1])


class DtProjLoraLinear(FusedLoraLinear):
    """A LoRA Linear whose `.weight` includes the active adapters' delta."""

    @property
    def weight(self) -> torch.Tensor:  # type: ignore[override]
        base = self.get_base_layer().weight
        if self.disable_adapters or self.merged:
            return base
        effective = base
        for name in self.active_adapters:
            if name in self.lora_A:
                effective = effective + self.get_delta_weight(name).to(base.dtype)
        return effective


def wire_lora_layers(model: torch.nn.Module) -> list[str]:
    """Give every peft LoRA Linear in `model` the fused forward, and those on a directly-read
    Mamba weight (dt_proj) the effective-weight view as well.

    Returns the names of the layers rewired (tests assert on them).
    """
    rewired = []
    for name, module in model.named_modules():
        if type(module) is lora_layer.Linear:
            read_directly = name.rsplit(".", 1)[-1] in WEIGHT_READ_MODULES
            module.__class__ = DtProjLoraLinear if read_directly else FusedLoraLinear
            rewired.append(name)
    return rewired
