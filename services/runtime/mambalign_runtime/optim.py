"""The optimiser named by `train.args.optim` (the handbook's names), with AdamW's settings.

torch's AdamW serves adamw_torch (and the aliases adamw_hf, adamw) and adamw_torch_fused;
the paged and 8-bit variants are bitsandbytes' optimisers and need it installed (and CUDA):
without it the run stops with exit 2 naming the package, rather than silently using more memory.
"""

from __future__ import annotations

import torch

from .errors import InvalidInput

_FIELD = "train.args.optim"
BNB_INSTALL = "pip install bitsandbytes==0.50.2"
TORCH_OPTIMIZERS = ("adamw_torch", "adamw_hf", "adamw", "adamw_torch_fused")
BNB_OPTIMIZERS = {"paged_adamw_32bit": "PagedAdamW32bit", "paged_adamw_8bit": "PagedAdamW8bit",
                  "adamw_8bit": "AdamW8bit", "adamw_bnb_8bit": "AdamW8bit"}
OPTIMIZERS = TORCH_OPTIMIZERS + tuple(BNB_OPTIMIZERS)


def check_optim_name(name: str) -> str:
    name = name or "adamw_torch"
    if name not in OPTIMIZERS:
        raise InvalidInput(f"{_FIELD}: unknown {name!r} (valid: {', '.join(OPTIMIZERS)})", field=_FIELD)
    return name


def build(name: str, params: list[torch.nn.Parameter], device: torch.device, lr: float,
          betas: tuple[float, float], eps: float, weight_decay: float) -> torch.optim.Optimizer:
    name = check_optim_name(name)
    kwargs = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
    if name in TORCH_OPTIMIZERS:
        # Only ever pass fused=True: an explicit fused=False also turns torch's default multi-tensor
        # (foreach) update off, leaving one launch per op and tensor (a LoRA's 512 tensors on the
        # 2.8B model: ~45 ms of launches per step).
        return torch.optim.AdamW(params, **({"fused": True} if name == "adamw_torch_fused" else {}), **kwargs)
    try:
        import bitsandbytes
    except ImportError as err:
        raise InvalidInput(f"{_FIELD}: {name} is a bitsandbytes optimiser and bitsandbytes is not installed "
                           f"({BNB_INSTALL}); or use adamw_torch", field=_FIELD) from err
    if device.type != "cuda":
        raise InvalidInput(f"{_FIELD}: {name} needs a CUDA GPU; use adamw_torch on {device.type}", field=_FIELD)
    return getattr(bitsandbytes.optim, BNB_OPTIMIZERS[name])(params, **kwargs)
