"""Launch settings shared by the kernels: interpreter detection and the scan's tile sizes."""

from __future__ import annotations

import os

_scan_override: dict | None = None


def interpreting() -> bool:
    """True when Triton runs kernels through its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _fix_interpreter_index() -> None:
    """Triton 3.6's interpreter turns loop bounds into ints with `int(ndarray)`, which numpy
    >= 2.4 refuses for its 1-element scalars ("only 0-dimensional arrays can be converted");
    re-register `__index__` through `.item()`. Only touches the CPU interpreter."""
    from triton.runtime import interpreter

    original = interpreter._patch_lang_tensor
    if getattr(original, "_index_fixed", False):
        return

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    patched._index_fixed = True
    interpreter._patch_lang_tensor = patched


def _reinterpret_triton_helpers() -> None:
    """If Triton was imported before TRITON_INTERPRET was set (pytest's conftest imports
    transformers/peft, which import Triton), its own @jit helpers (tl.zeros, tl.sum's combine,
    tl.sigmoid, ...) were built for the compiler and refuse to run in the interpreter. Rebuild
    them as interpreted functions; the interpreter only exists for tests."""
    import sys

    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    modules = [m for name, m in list(sys.modules.items()) if name.startswith("triton.language") and m is not None]
    for module in modules:
        for attr, value in list(vars(module).items()):
            if isinstance(value, JITFunction):
                replacement = InterpretedFunction(value.fn)
                for other in modules:
                    if vars(other).get(attr) is value:
                        setattr(other, attr, replacement)


if interpreting():
    _fix_interpreter_index()
    _reinterpret_triton_helpers()


def set_scan_config(config: dict | None) -> None:
    """Force the scan's {BLOCK_D, CHUNK, num_warps} (the benchmark uses this to compare tiles)."""
    global _scan_override
    if config is not None and not {"BLOCK_D", "CHUNK", "num_warps"} <= set(config) <= {"BLOCK_D", "CHUNK", "num_warps", "num_stages"}:
        raise ValueError(f"scan config needs BLOCK_D, CHUNK, num_warps (and optional num_stages); got {sorted(config)}")
    _scan_override = dict(config) if config is not None else None


def scan_configs(block_n: int, seqlen: int) -> list[dict]:
    """Candidate tiles, best-known first. The [CHUNK, BLOCK_D, BLOCK_N] fp32 tile lives in
    registers, time axis inside each thread; BLOCK_D * BLOCK_N = 32 * num_warps gives every
    thread one (channel, state) pair and CHUNK steps of it."""
    if _scan_override is not None:
        return [_scan_override]
    if interpreting():
        # Small chunks so tiny test sequences still cross several chunk boundaries.
        return [{"BLOCK_D": 4, "CHUNK": 8, "num_warps": 1}]
    if block_n <= 16:
        # Measured on an H200 (KERNELS.md): one warp holding 2 channels x 16 states keeps the
        # backward's reductions over channels inside the warp; 14.8 ms vs 23.7-33.7 ms.
        return [
            {"BLOCK_D": 2, "CHUNK": 16, "num_warps": 1},
            {"BLOCK_D": 8, "CHUNK": 32, "num_warps": 4},
            {"BLOCK_D": 8, "CHUNK": 16, "num_warps": 4, "num_stages": 3},
            {"BLOCK_D": 4, "CHUNK": 16, "num_warps": 2},
            {"BLOCK_D": 2, "CHUNK": 32, "num_warps": 1},
        ]
    return [
        {"BLOCK_D": 2, "CHUNK": 16, "num_warps": 4},
        {"BLOCK_D": 4, "CHUNK": 16, "num_warps": 8},
        {"BLOCK_D": 2, "CHUNK": 32, "num_warps": 4},
    ]
