"""Launch settings shared by the kernels: interpreter detection and the scan's tile sizes."""

from __future__ import annotations

import os

_scan_override: dict | None = None
SCAN_VARIANTS = ("v3", "v4")
_scan_variant: str | None = None


_interpreter_ready = False


def interpreting() -> bool:
    """True when Triton runs kernels through its CPU interpreter (TRITON_INTERPRET=1).

    Every launch path asks this first, so the interpreter's fixes are applied here, lazily: the
    variable may be set after this module was imported (a test file sets it at collection time,
    after another test imported the runtime)."""
    global _interpreter_ready
    on = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
    if on and not _interpreter_ready:
        _interpreter_ready = True
        _fix_interpreter_index()
        _reinterpret_triton_helpers()
    return on


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


interpreting()  # apply the interpreter's fixes now when it is already on


def scan_variant() -> str:
    """The scan kernel in use: set_scan_variant() if called, else $MAMBALIGN_SCAN_KERNEL, else v3."""
    name = _scan_variant or os.environ.get("MAMBALIGN_SCAN_KERNEL", "") or "v3"
    if name not in SCAN_VARIANTS:
        raise ValueError(f"MAMBALIGN_SCAN_KERNEL: unknown scan kernel {name!r}; valid: {', '.join(SCAN_VARIANTS)}")
    return name


def set_scan_variant(name: str | None) -> None:
    """Select the scan kernel for this process (None: back to the environment / default)."""
    global _scan_variant
    if name is not None and name not in SCAN_VARIANTS:
        raise ValueError(f"scan kernel: unknown variant {name!r}; valid: {', '.join(SCAN_VARIANTS)}")
    _scan_variant = name


_CONFIG_KEYS = {"v3": ({"BLOCK_D", "CHUNK", "num_warps"}, {"num_stages"}), "v4": ({"CHUNK", "DI", "NI"}, {"bwd_DI", "bwd_NI", "num_warps", "lanes"})}


def set_scan_config(config: dict | None) -> None:
    """Force the scan's tile (the benchmark uses this to compare tiles): for v3
    {BLOCK_D, CHUNK, num_warps[, num_stages]}, for v4 {CHUNK, DI, NI[, num_warps]}."""
    global _scan_override
    if config is not None:
        need, optional = _CONFIG_KEYS[scan_variant()]
        if not need <= set(config) <= need | optional:
            raise ValueError(f"scan {scan_variant()} config needs {sorted(need)} (optional {sorted(optional)}); "
                             f"got {sorted(config)}")
    _scan_override = dict(config) if config is not None else None


def scan_configs(block_n: int, seqlen: int, variant: str | None = None) -> list[dict]:
    """Candidate tiles for a scan variant (default: the one in use), best-known first."""
    variant = variant or scan_variant()
    if _scan_override is not None and variant == scan_variant():
        return [_scan_override]
    if variant == "v4":
        return _v4_configs(block_n)
    # v3: the [CHUNK, BLOCK_D, BLOCK_N] fp32 tile lives in registers, time axis inside each
    # thread; BLOCK_D * BLOCK_N = 32 * num_warps gives every thread one (channel, state) pair.
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


def _v4_configs(block_n: int) -> list[dict]:
    """v4 tiles: CHUNK x DI x NI values per thread, (32 / (block_n/NI)) x DI channels per warp.
    Ordered by an sm_90 compile without a GPU (registers, spills, SASS per state update; see
    KERNELS.md); the GPU script times them all and reports the fastest."""
    if interpreting():
        # 4 lanes: 2 channels x 2 states per lane group, so tiny tests cross channel blocks.
        return [{"CHUNK": 4, "DI": 2, "NI": max(1, block_n // 2), "lanes": 4, "bwd_DI": 1}]
    if block_n <= 16:
        return [
            {"CHUNK": 4, "DI": 4, "NI": 4, "bwd_DI": 1, "bwd_NI": 4},
            {"CHUNK": 2, "DI": 4, "NI": 4},
            {"CHUNK": 4, "DI": 2, "NI": 4},
            {"CHUNK": 8, "DI": 2, "NI": 4, "bwd_DI": 1, "bwd_NI": 4},
        ]
    return [{"CHUNK": 4, "DI": 2, "NI": block_n // 8, "bwd_DI": 1}, {"CHUNK": 2, "DI": 2, "NI": block_n // 8}]
