"""Numeric precision of training: fp32 master weights, optional autocast (what Mamba's authors recommend).

Trainable weights and the optimiser state are always float32; `torchDtype` / `bf16` choose the
dtype the matmuls run in under `torch.autocast`:

| torchDtype          | bf16  | compute                                                    |
|---------------------|-------|------------------------------------------------------------|
| "" or "auto"        | false | bfloat16 on a CUDA GPU that supports it, else float32      |
| "float32"           | false | float32 (no autocast)                                      |
| any but "float16"   | true  | bfloat16                                                   |
| "bfloat16"          | any   | bfloat16                                                   |
| "float16"           | false | float16, with a gradient scaler (float16 overflows without)|

A 4-bit (QLoRA) base keeps its own storage; its adapters are float32 like everything trainable.
Frozen matmul weights (a LoRA run's base projections) are stored in the autocast dtype: autocast
rounds them to it at every use anyway, so this gives the same numbers without re-reading 4 bytes
and writing 2 per weight each forward (and recompute), and halves their memory.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from .errors import InvalidInput

TORCH_DTYPES = ("auto", "float32", "bfloat16", "float16")
_FIELD = "train.args.torchDtype"


@dataclass(frozen=True)
class Precision:
    compute: torch.dtype | None  # autocast dtype; None = plain float32
    master: torch.dtype = torch.float32

    @property
    def name(self) -> str:
        return {None: "float32", torch.bfloat16: "bfloat16-autocast", torch.float16: "float16-autocast"}[self.compute]

    @property
    def needs_scaler(self) -> bool:
        return self.compute is torch.float16

    def autocast(self, device: torch.device) -> AbstractContextManager:
        if self.compute is None:
            return torch.autocast(device.type, enabled=False)
        return torch.autocast(device.type, dtype=self.compute)


def resolve_precision(torch_dtype: str, bf16: bool, device: torch.device) -> Precision:
    name = torch_dtype or "auto"
    if name not in TORCH_DTYPES:
        raise InvalidInput(f"{_FIELD}: unknown dtype {name!r} (valid: {', '.join(TORCH_DTYPES)})", field=_FIELD)
    if bf16 and name == "float16":
        raise InvalidInput(f"{_FIELD}: float16 contradicts train.args.bf16 = true; set one of them", field=_FIELD)
    cuda = device.type == "cuda"
    if name == "bfloat16" or bf16:
        if cuda and not torch.cuda.is_bf16_supported():
            raise InvalidInput(f"{_FIELD}: this GPU has no bfloat16; use float16 or float32", field=_FIELD)
        return Precision(torch.bfloat16)
    if name == "float16":
        return Precision(torch.float16)
    if name == "auto" and cuda and torch.cuda.is_bf16_supported():
        return Precision(torch.bfloat16)
    return Precision(None)


def store_frozen_matmul_weights(model: torch.nn.Module, compute: torch.dtype | None,
                                read_directly: tuple[str, ...] = ()) -> list[str]:
    """Cast every frozen `nn.Linear` that only autocast's matmuls read to `compute`; returns their names.

    Left alone: trainable weights, weights shared with another module (a tied lm_head is also the
    embedding table, which is looked up, not multiplied), and modules named in `read_directly`
    (their weight is read outside a matmul call, e.g. Mamba's dt_proj). A no-op without autocast."""
    if compute is None:
        return []
    uses: dict[int, int] = {}
    for _, param in model.named_parameters(remove_duplicate=False):
        uses[id(param)] = uses.get(id(param), 0) + 1
    cast = []
    for name, module in model.named_modules():
        if type(module) is not torch.nn.Linear or any(part in read_directly for part in name.split(".")):
            continue
        params = list(module.parameters(recurse=False))
        if any(p.requires_grad or uses[id(p)] > 1 for p in params):
            continue
        module.to(compute)
        cast.append(name)
    return cast
