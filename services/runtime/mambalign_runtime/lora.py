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
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from peft.tuners import tuners_utils
from peft.tuners.lora import layer as lora_layer

MAMBA_MODEL_TYPES = {"mamba", "falcon_mamba"}
MAMBA_DEFAULT_TARGETS = ["in_proj", "x_proj", "dt_proj", "out_proj"]
# Modules whose weights the Mamba mixer reads directly; LoRA there needs DtProjLoraLinear.
_WEIGHT_READ_MODULES = ("dt_proj",)
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


class DtProjLoraLinear(lora_layer.Linear):
    """A peft LoRA Linear whose `.weight` includes the active adapters' delta."""

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


def wire_weight_read_modules(model: torch.nn.Module) -> list[str]:
    """Give every LoRA layer on a directly-read Mamba weight the effective-weight view.

    Returns the names of the layers rewired (tests assert on them).
    """
    rewired = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in _WEIGHT_READ_MODULES and type(module) is lora_layer.Linear:
            module.__class__ = DtProjLoraLinear
            rewired.append(name)
    return rewired
