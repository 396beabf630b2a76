"""Mamba kernels: the fast Triton path and the reference path (transformers' own code).

`install(mode)` selects which one transformers' Mamba uses in this process. The Triton modules
are imported only when the fast path is installed or used, so importing this package is cheap
and never decides Triton's interpreter mode for the process.
"""

from __future__ import annotations

import os

KERNEL_MODES = ("auto", "fast", "reference")


def packed_sequences(model, seq_idx):
    """Context manager: document boundaries for packed rows on the fast path (see patch.py)."""
    from .patch import packed_sequences as ctx

    return ctx(model, seq_idx)


def fast_available() -> tuple[bool, str]:
    """(available, reason if not): the fast path needs Triton and a CUDA GPU (or the CPU
    interpreter, TRITON_INTERPRET=1, which tests use)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False, "triton is not installed (pip install triton==3.6.0)"
    import torch

    if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        return True, ""
    return False, "no CUDA GPU is visible"


def install(mode: str = "auto") -> str:
    """Select the kernel path for transformers' Mamba; returns the mode in effect.

    "reference" leaves (or puts back) transformers' implementation. "fast" swaps in the Triton
    kernels and raises RuntimeError if they cannot run here or transformers' internals moved.
    "auto" picks "fast" when the fast kernels are available, else "reference".
    """
    if mode not in KERNEL_MODES:
        raise ValueError(f"kernels: unknown mode {mode!r}; valid: {', '.join(KERNEL_MODES)}")
    from . import patch

    if mode == "reference":
        patch.install_reference()
        return "reference"
    ok, reason = fast_available()
    if mode == "fast" and not ok:
        raise RuntimeError(f"kernels: the fast path cannot run here: {reason}; use kernels='reference'")
    # "auto" never picks the CPU interpreter: it is for tests, far slower than the reference.
    import torch

    if mode == "auto" and not (ok and torch.cuda.is_available()):
        patch.install_reference()
        return "reference"
    patch.install_fast()
    return "fast"
