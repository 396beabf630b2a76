"""Launch settings shared by the kernels: interpreter detection and the scan's tile sizes."""

from __future__ import annotations

import functools
import os

_scan_override: dict | None = None
_decode_override: dict | None = None
_scan_recompute: bool | None = None


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
        _fix_interpreter_bf16_rounding()
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


def _fix_interpreter_bf16_rounding() -> None:
    """Triton 3.6's interpreter truncates fp32 -> bf16 casts (and its "rtne" drops the carry into
    the exponent), where the GPU rounds to nearest even (cvt.rn.bf16.f32); round as the GPU does,
    through torch, so rounding in a kernel is checked as it runs there. Explicit "rtz" keeps
    truncating. Only touches the CPU interpreter."""
    import numpy as np
    import torch
    from triton._C.libtriton import ir
    from triton.runtime import interpreter

    original = interpreter._convert_float
    if getattr(original, "_rtne_fixed", False):
        return

    def convert(input, input_dtype, output_dtype, rounding_mode):
        if (input_dtype.is_fp32() and output_dtype.is_bf16() and rounding_mode != ir.ROUNDING_MODE.RTZ):
            values = torch.from_numpy(np.ascontiguousarray(input).view(np.float32))
            return values.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16).reshape(input.shape)
        return original(input, input_dtype, output_dtype, rounding_mode)

    convert._rtne_fixed = True
    interpreter._convert_float = convert


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


def _switch(name: str) -> bool:
    """The 0/1 environment switch `name`, on unless set to 0; anything else is refused."""
    value = os.environ.get(name, "1")
    if value not in ("0", "1"):
        raise ValueError(f"{name}: must be 0 or 1, got {value!r}")
    return value == "1"


@functools.cache
def _sm90_or_newer() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 9


def scan_recompute() -> bool:
    """True (default): the scan's backward recomputes its chunk checkpoints instead of the forward
    keeping them (see scan.py). set_scan_recompute() if called, else $MAMBALIGN_SCAN_RECOMPUTE (0/1)."""
    if _scan_recompute is not None:
        return _scan_recompute
    return _switch("MAMBALIGN_SCAN_RECOMPUTE")


def set_scan_recompute(on: bool | None) -> None:
    """Recompute the scan's chunk checkpoints in the backward (True) or keep them from the forward
    (False: faster when the layer's forward is itself recomputed, i.e. gradient checkpointing);
    None: back to the environment / default."""
    global _scan_recompute
    _scan_recompute = on


_CONFIG_KEYS = ({"CHUNK", "DI", "NI"}, {"bwd_DI", "bwd_NI", "num_warps", "lanes", "SEGS", "bwd_SEGS", "dBC_atomic"})


def set_scan_config(config: dict | None) -> None:
    """Force the scan's tile (the benchmark uses this to compare tiles): {CHUNK, DI, NI[, bwd_DI,
    bwd_NI, num_warps]} (scan_v4.tile), optionally the time split {SEGS, bwd_SEGS} (scan_segments)
    and dBC_atomic (the backward's dB/dC: atomic adds or per-block partials; scan_backward)."""
    global _scan_override
    if config is not None:
        need, optional = _CONFIG_KEYS
        if not need <= set(config) <= need | optional:
            raise ValueError(f"scan config needs {sorted(need)} (optional {sorted(optional)}); got {sorted(config)}")
    _scan_override = dict(config) if config is not None else None


def scan_configs(block_n: int, seqlen: int) -> list[dict]:
    """Candidate tiles for the scan, best-known first (the forced one alone if set)."""
    if _scan_override is not None:
        return [_scan_override]
    return _v4_configs(block_n)


def _v4_configs(block_n: int) -> list[dict]:
    """v4 tiles: CHUNK x DI x NI values per thread, (32 / (block_n/NI)) x DI channels per warp.
    Ordered by the bench's timing on one H200 (the first is what training uses). Since the loads
    run one chunk ahead, fewer channels per lane group win in the forward: DI=1 (8 channels a warp)
    0.69 ms a layer at b4 against 0.92 for DI=2 and 1.34 for DI=4; at b2 L8192 1.86 against 2.91, as
    DI=2 has too few programs there and splits in time; level at b1 L16384 (KERNELS.md "Round 10",
    "Round 7"). The backward keeps one channel per lane group."""
    if interpreting():
        # 4 lanes: 2 channels x 2 states per lane group, so tiny tests cross channel blocks.
        return [{"CHUNK": 4, "DI": 2, "NI": max(1, block_n // 2), "lanes": 4, "bwd_DI": 1}]
    if block_n <= 16:
        return [
            {"CHUNK": 4, "DI": 1, "NI": 4, "bwd_DI": 1, "bwd_NI": 4},
            {"CHUNK": 4, "DI": 2, "NI": 4, "bwd_DI": 1, "bwd_NI": 4},
            {"CHUNK": 8, "DI": 2, "NI": 4, "bwd_DI": 1, "bwd_NI": 4},
            {"CHUNK": 4, "DI": 4, "NI": 4, "bwd_DI": 1, "bwd_NI": 4},
        ]
    return [{"CHUNK": 4, "DI": 2, "NI": block_n // 8, "bwd_DI": 1}, {"CHUNK": 2, "DI": 2, "NI": block_n // 8}]


# Time split of the scan (scan_v4.scan_forward/scan_backward). Each program walks its chunks in
# sequence, one warp each, so a launch with few (batch row, channel block) programs leaves the card
# idle: at batch 1, seq 16,384 the forward has 160 programs for 132 SMs. Splitting the sequence
# into S segments gives S times the programs for a second pass over the segment (the forward's
# first pass, the backward's carry pass). A launch with fewer programs than SPLIT_BELOW is split
# until it has SPLIT_PROGRAMS, each segment at least SPLIT_MIN_CHUNKS chunks long, and only into
# SPLIT_MIN_SEGS or more. Measured on one H200 (2.8B layer, KERNELS.md "Round 5"): the forward
# gains below ~1,000 programs (b4 seq 2k:
# 1.89 -> 1.78 ms at S=2; b1 16k: 12.7 -> 3.4 ms at S=8) and loses at 1,280 (b8: 2.25 -> 3.45 ms);
# the backward gains only at b1 16k with S >= 8 (10.9 -> 10.2 ms), loses at S=4 there and at b4.
SPLIT_BELOW = {"fwd": 1000, "bwd": 1024}
SPLIT_PROGRAMS = {"fwd": 1280, "bwd": 8192}
SPLIT_MIN_CHUNKS = 128
SPLIT_MIN_SEGS = {"fwd": 2, "bwd": 8}  # fewer backward segments do not pay for the carry pass


def scan_segments(config: dict, n_chunks: int, programs: int, backward: bool) -> tuple[int, int]:
    """(segments, chunks per segment) for a scan launch of `programs` (batch rows x channel
    blocks) over `n_chunks` chunks: config's SEGS / bwd_SEGS if given, else the rule above
    ($MAMBALIGN_SCAN_SPLIT=0: never split unless the config asks)."""
    side = "bwd" if backward else "fwd"
    want = config.get("bwd_SEGS" if backward else "SEGS")
    if want is None and (os.environ.get("MAMBALIGN_SCAN_SPLIT", "1") == "0" or programs >= SPLIT_BELOW[side]):
        want = 1
    if want is None:
        want = min(-(-SPLIT_PROGRAMS[side] // max(programs, 1)), max(n_chunks // SPLIT_MIN_CHUNKS, 1))
        want = want if want >= SPLIT_MIN_SEGS[side] else 1
    want = max(1, min(int(want), n_chunks))
    seg_chunks = -(-n_chunks // want)
    return -(-n_chunks // seg_chunks), seg_chunks


def decode_state_dtype(model_dtype):
    """The dtype the generation cache keeps each layer's SSM state in. "model" (default): the
    model's dtype, as mamba_ssm's inference cache does (its step kernel, like ours, computes in fp32
    and rounds once when it stores); at batch 64+ the state is the decode step's largest traffic
    (2.7 GB a step at batch 64 in fp32), so bf16 halves it. "fp32": keep the scan's fp32 state
    (what transformers' cache holds). Read from $MAMBALIGN_DECODE_STATE."""
    import torch

    value = os.environ.get("MAMBALIGN_DECODE_STATE", "model")
    if value not in ("model", "fp32"):
        raise ValueError(f"MAMBALIGN_DECODE_STATE: must be model or fp32, got {value!r}")
    return torch.float32 if value == "fp32" else model_dtype


# Decode state update (decode.state_update): from DECODE_ROWS_FROM batch rows on, each program
# owns BLOCK_B rows x BLOCK_D channels, so dt_proj's weight (D x R), A and D are read once per
# row block rather than once per row (at batch 256 the per-row kernel re-read dt_proj's 1.6 MB
# weight 256 times a layer) and dt = time_step @ W.T runs on the tensor cores. Below it, one row
# per program keeps the many small programs a latency-bound batch-1 step wants. Measured on one
# H200, graphed 2.8B step (KERNELS.md "Round 6"): row blocks lose at batch 8 (3.43 vs 3.36 ms), win
# from 16 (3.58 vs 3.70) to 256 (8.66 vs 12.43); 4 warps beat 8 (b64 4.66 vs 4.84 ms).
DECODE_ROWS_FROM = 16
DECODE_ROWS_TILE = {"BLOCK_B": 16, "BLOCK_D": 16, "BLOCK_R": 32, "num_warps": 4}
_INTERPRET_ROWS_TILE = {"BLOCK_B": 16, "BLOCK_D": 16, "BLOCK_R": 16, "num_warps": 4}  # dot needs 16 x 16


def decode_tile(batch: int) -> dict | None:
    """The row-block tile for a decode state update of `batch` rows, or None for one row per program."""
    override = _decode_override
    if override is not None:
        rows_from = override.get("from_batch", DECODE_ROWS_FROM)
        tile = {**(_INTERPRET_ROWS_TILE if interpreting() else DECODE_ROWS_TILE),
                **{k: v for k, v in override.items() if k != "from_batch"}}
    else:
        rows_from = DECODE_ROWS_FROM
        tile = _INTERPRET_ROWS_TILE if interpreting() else DECODE_ROWS_TILE
    if rows_from <= 0 or batch < rows_from:
        return None
    return dict(tile)


def set_decode_tile(config: dict | None) -> None:
    """Force the decode state update's tiling (the benchmark compares them): {"from_batch": n}
    (0: always one row per program; 1: row blocks at every batch) and/or tile keys BLOCK_B,
    BLOCK_D, BLOCK_R, num_warps (BLOCK_B, BLOCK_D, BLOCK_R >= 16); None: the defaults."""
    global _decode_override
    if config is not None:
        known = {"from_batch", *DECODE_ROWS_TILE}
        if not set(config) <= known:
            raise ValueError(f"decode tile: unknown keys {sorted(set(config) - known)}; valid: {sorted(known)}")
        small = [k for k in ("BLOCK_B", "BLOCK_D", "BLOCK_R") if k in config and config[k] < 16]
        if small:
            raise ValueError(f"decode tile: {small} must be >= 16 (the tensor-core dot's smallest tile)")
    _decode_override = dict(config) if config is not None else None


def decode_fused_norm() -> bool:
    """True (default): a decode step (one token, a cache with state, no gradients) runs the
    residual add of each block and the RMSNorm of the next as one kernel (patch.model_forward);
    $MAMBALIGN_DECODE_FUSED_NORM=0 keeps transformers' layer loop (the benchmark compares both).
    Read at every call."""
    return _switch("MAMBALIGN_DECODE_FUSED_NORM")


# Decode conv update + x_proj in one kernel (decode.conv_xproj). Each program owns BLOCK_B rows x
# BLOCK_D channels, walks them SUB_D at a time (conv taps, xc stored, xc @ W_x[:, d].T kept in
# fp32 registers) and adds its (rows x n_proj) partial into a zeroed fp32 buffer with one atomic
# per element: split-K over channel blocks, D / BLOCK_D adds per output. One row per program (a
# broadcast multiply-add) at batch 1, a 16-row tensor-core dot from XPROJ_DOT_FROM rows, and the
# GEMM path (conv update, then cuBLAS) from XPROJ_FUSE_BELOW rows on. Measured on one H200
# (scripts/gpu_decode_xproj.py, KERNELS.md "Round 7"), device us per layer against conv update +
# x_proj GEMM: b1 5.48 vs 9.91 (row, 64 x 32), b8 7.04 vs 10.12 (dot, 16 x 64 x 32), b64 12.03 vs
# 11.74 and b256 30.9 vs 17.25 (the fused kernel loses); graphed step b1 3.243 -> 2.953 ms.
XPROJ_FUSE_BELOW = 16
XPROJ_DOT_FROM = 2
XPROJ_TILE_DOT = {"BLOCK_B": 16, "BLOCK_D": 64, "SUB_D": 32, "num_warps": 4}
XPROJ_TILE_ROW = {"BLOCK_B": 1, "BLOCK_D": 64, "SUB_D": 32, "num_warps": 4}
# Interpreter: channel blocks of 16 (dot: 32) walked 8 (16) at a time, so tiny tests cross both.
_INTERPRET_XPROJ = ({"BLOCK_B": 16, "BLOCK_D": 32, "SUB_D": 16, "num_warps": 4},
                    {"BLOCK_B": 1, "BLOCK_D": 16, "SUB_D": 8, "num_warps": 4})
_xproj_override: dict | None = None


def decode_fused_xproj(batch: int) -> bool:
    """True (default) below XPROJ_FUSE_BELOW rows, unless torch is asked for deterministic algorithms:
    the decode step's conv update also computes x_proj (decode.conv_xproj) when x_proj and dt_proj
    are plain Linears;
    $MAMBALIGN_DECODE_FUSED_XPROJ=0 keeps x_proj a GEMM at every batch. Read at every call, so a
    benchmark can compare both in one process."""
    import torch

    # Its split-K sums are fp32 atomic adds, whose order varies from run to run: a step is then
    # not reproducible bit for bit, which torch's deterministic mode asks for (as the scan does).
    return (_switch("MAMBALIGN_DECODE_FUSED_XPROJ")
            and batch < (_xproj_override or {}).get("fuse_below", XPROJ_FUSE_BELOW)
            and not torch.are_deterministic_algorithms_enabled())


# Decode in_proj and out_proj at one row (gemv.gemv) instead of cuBLAS, which ran out_proj as a split-K
# GEMM plus a reduce kernel. On one H200 (KERNELS.md "Rounds 8, 9", scripts/gpu_gemv.py), in a graph of
# 64 layers: out_proj 2560 x 5120 bf16 7.9 vs 10.9 us a call, in_proj 10240 x 2560 14.5 vs 15.4 us
# (its own tile: 16 columns, k steps of 256); graphed b1 step 2.413 -> 2.385 ms with in_proj too. From 2
# rows cuBLAS keeps up (out_proj 11.6 vs 11.8 us).
GEMV_BELOW = 2
GEMV_TILE = {"BLOCK_N": 4, "BLOCK_K": 1024, "num_warps": 4}
IN_PROJ_TILE = {"BLOCK_N": 16, "BLOCK_K": 256, "num_warps": 4}
_GEMV_USES = ("out_proj", "in_proj")
_gemv_override: dict | None = None


def decode_gemv(rows: int, use: str = "out_proj") -> bool:
    """True (default) below GEMV_BELOW rows: a decode step's out_proj (`use` "out_proj") or in_proj
    ("in_proj") runs as gemv.gemv; $MAMBALIGN_DECODE_GEMV=0 keeps cuBLAS for both. Read at every call
    (the benchmark compares)."""
    override = _gemv_override or {}
    return (_switch("MAMBALIGN_DECODE_GEMV") and bool(override.get(use, True))
            and rows < override.get("below", GEMV_BELOW))


def gemv_tile(use: str = "out_proj") -> dict:
    """gemv.gemv's tile for out_proj (GEMV_TILE) or in_proj (IN_PROJ_TILE), with set_gemv's keys over
    it (in_proj's prefixed "in_proj_")."""
    override = _gemv_override or {}
    if use == "in_proj":
        return {**IN_PROJ_TILE, **{k[len("in_proj_"):]: v for k, v in override.items() if k.startswith("in_proj_")}}
    return {**GEMV_TILE, **{k: v for k, v in override.items() if k in GEMV_TILE}}


def set_gemv(config: dict | None) -> None:
    """Force the decode GEMVs' use and tiles (the benchmark compares them): {"below": rows},
    {"out_proj": bool, "in_proj": bool}, out_proj's tile keys BLOCK_N, BLOCK_K, num_warps and in_proj's
    as in_proj_BLOCK_N, ...; None: the defaults."""
    global _gemv_override
    known = {"below", *_GEMV_USES, *GEMV_TILE, *(f"in_proj_{k}" for k in IN_PROJ_TILE)}
    if config is not None and not set(config) <= known:
        raise ValueError(f"set_gemv: unknown keys {sorted(set(config) - known)}; valid: {sorted(known)}")
    _gemv_override = dict(config) if config is not None else None


# Programmatic dependent launch for the decode step's own kernels below PDL_BELOW rows: on one H200
# (KERNELS.md "Round 8", graphed 2.8B step) b1 2.54 -> 2.47 ms, b64 4.23 -> 4.16, b256 7.41 -> 7.43; with
# the operands no earlier kernel of the step writes loaded before the wait ("Round 9"), b1 2.56 -> 2.18.
PDL_BELOW = 128


def decode_pdl(rows: int) -> bool:
    """True (default, on sm_90+, below PDL_BELOW rows) when the decode step's own kernels (conv +
    x_proj, state update, gemv, add + norm) launch with programmatic dependent launch: each may
    start while the kernel before it finishes, loads what no earlier kernel of the step writes
    (weights, the layer's states, the residual), and waits (griddepcontrol.wait) before reading the
    rest, so the logits are the same bit for bit. Never in the CPU interpreter;
    $MAMBALIGN_DECODE_PDL=0 turns it off. Read at every call."""
    return _switch("MAMBALIGN_DECODE_PDL") and rows < PDL_BELOW and not interpreting() and _sm90_or_newer()


def pdl_launch(rows: int) -> dict:
    """Launch options and the kernels' PDL flag for a decode-step launch of `rows` rows (decode_pdl)."""
    on = decode_pdl(rows)
    return {"PDL": on, **({"launch_pdl": True} if on else {})}


def xproj_tile(batch: int) -> dict:
    """The conv+x_proj tile for `batch` rows: {BLOCK_B, BLOCK_D, SUB_D, num_warps, USE_DOT}."""
    override = _xproj_override or {}
    dot = batch >= override.get("dot_from", XPROJ_DOT_FROM)
    if interpreting():
        tile = _INTERPRET_XPROJ[0 if dot else 1]
    else:
        tile = XPROJ_TILE_DOT if dot else XPROJ_TILE_ROW
    prefix = "dot_" if dot else "row_"
    tile = {**tile, **{k[len(prefix):]: v for k, v in override.items() if k.startswith(prefix)}}
    return {**tile, "USE_DOT": dot}


def set_xproj_tile(config: dict | None) -> None:
    """Force the conv+x_proj tiling (the GPU script compares them): "fuse_below" (rows from which
    x_proj is a GEMM again), "dot_from" (rows from which the tensor-core variant runs) and
    dot_/row_-prefixed tile keys (dot_BLOCK_D, row_SUB_D, ...); None: the defaults."""
    global _xproj_override
    if config is not None:
        known = {"fuse_below", "dot_from"} | {p + k for p in ("dot_", "row_") for k in XPROJ_TILE_DOT}
        if not set(config) <= known:
            raise ValueError(f"xproj tile: unknown keys {sorted(set(config) - known)}; valid: {sorted(known)}")
        small = [k for k in ("dot_BLOCK_B", "dot_SUB_D") if k in config and config[k] < 16]
        if small:
            raise ValueError(f"xproj tile: {small} must be >= 16 (the tensor-core dot's smallest tile)")
        if "row_BLOCK_B" in config:
            raise ValueError("xproj tile: the row variant has one row per program (row_BLOCK_B is 1)")
    _xproj_override = dict(config) if config is not None else None
