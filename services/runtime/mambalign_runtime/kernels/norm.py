"""Fused RMSNorm (transformers' MambaRMSNorm, plus MambaBlock's cast of its input) in Triton.

    xr  = round_in(x)                              (the block's `x.to(norm.weight.dtype)`)
    r   = 1 / sqrt(mean(xr^2) + eps)               (fp32, one value per row)
    out = round_out(w * round_in(xr * r))          (`self.weight * h.to(input_dtype)`)

`round_in` rounds to `in_dtype` (a no-op for fp32) and `round_out` to
promote(weight dtype, in_dtype), the dtype torch's `weight * h` gives. The product of two bf16 or
fp16 values is exact in fp32, so rounding it once reproduces torch's bf16/fp16 multiply; the
only difference from transformers' code left is the order of the fp32 sum of squares (and the
last bit of the rsqrt), which moves `round_in(xr * r)` by one unit in rare near-ties.

One program owns one row (the whole hidden dim in registers): the forward reads x once and
writes out once, instead of the ~8 elementwise/reduction kernels of transformers' code. The
backward treats both roundings as identity (as autograd of transformers' code does):

    g = dy * w,  dx = r * (g - xhat * mean(g * xhat)),  dw = sum_rows dy * xhat,  xhat = xr * r

It saves only r and x, as round_in(x) when that is narrower (transformers' autograd saves the
cast too): with an fp32 residual stream that halves what every block keeps for its backward
(2.7 GB over the 2.8B model's 64 blocks at batch 4, seq 2048). dw (skipped when the weight is frozen, e.g. under LoRA) is summed in
registers by each backward program over its rows and the per-program fp32 partials by torch.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from ._launch import interpreting, pdl_launch
from .pdl import pdl_enter

_TL_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}


@triton.jit
def _round(v, DTYPE: tl.constexpr, HW_ROUND: tl.constexpr):
    """Round fp32 v to DTYPE (round to nearest even) and return it as fp32. bf16: the GPU's
    cvt.rn.bf16.f32 (HW_ROUND) or the same bits with integer ops, for Triton's CPU interpreter,
    whose fp32->bf16 cast truncates (its "rtne" mode rounds ties up). The integer ops cost ~190
    of the fused decode kernel's 510 instructions a warp (sm_90 SASS), so the GPU uses the cvt."""
    if DTYPE == tl.bfloat16 and HW_ROUND:
        return v.to(tl.bfloat16).to(tl.float32)
    elif DTYPE == tl.bfloat16:
        bits = v.to(tl.uint32, bitcast=True)
        bits = (bits + (0x7FFF + ((bits >> 16) & 1))) & 0xFFFF0000
        return bits.to(tl.float32, bitcast=True)
    elif DTYPE == tl.float16:
        return v.to(tl.float16).to(tl.float32)
    else:
        return v


@triton.jit
def _normed_row(xr, w_ptr, h, mask, hidden, eps, IN_DTYPE: tl.constexpr, OUT_DTYPE: tl.constexpr,
                HW_ROUND: tl.constexpr):
    """(round_out(w * round_in(xr * r)), r) for one row xr (fp32, already rounded to IN_DTYPE)."""
    r = 1.0 / tl.sqrt_rn(tl.sum(xr * xr, axis=0) / hidden + eps)
    xhat = _round(xr * r, IN_DTYPE, HW_ROUND)
    w = tl.load(w_ptr + h, mask=mask, other=0.0).to(tl.float32)
    # w * xhat is exact in fp32 for 16-bit operands: one rounding, as torch's 16-bit multiply.
    return _round(w * xhat, OUT_DTYPE, HW_ROUND), r


@triton.jit
def _rms_fwd_kernel(
    x_ptr, w_ptr, out_ptr, r_ptr, xr_ptr,
    hidden, eps,
    s_x_r, s_x_h,
    IN_DTYPE: tl.constexpr, BLOCK_H: tl.constexpr, HW_ROUND: tl.constexpr, STORE_XR: tl.constexpr,
):
    """out and r of one row; with STORE_XR, also round_in(x) (what the backward keeps)."""
    row = tl.program_id(0).to(tl.int64)
    h = tl.arange(0, BLOCK_H)
    mask = h < hidden
    xr = _round(tl.load(x_ptr + row * s_x_r + h * s_x_h, mask=mask, other=0.0).to(tl.float32), IN_DTYPE, HW_ROUND)
    out, r = _normed_row(xr, w_ptr, h, mask, hidden, eps, IN_DTYPE, out_ptr.dtype.element_ty, HW_ROUND)
    tl.store(out_ptr + row * hidden + h, out.to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(r_ptr + row, r)
    if STORE_XR:
        tl.store(xr_ptr + row * hidden + h, xr.to(xr_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _add_rms_fwd_kernel(
    res_ptr, h_ptr, w_ptr, res_out_ptr, out_ptr,
    hidden, eps,
    s_res_r, s_h_r,
    HAS_H: tl.constexpr, WRITE_RES: tl.constexpr, SUM_DTYPE: tl.constexpr, IN_DTYPE: tl.constexpr,
    BLOCK_H: tl.constexpr, HW_ROUND: tl.constexpr, PDL: tl.constexpr,
):
    """x = round_sum(res + h) (torch's `residual + h`: an fp32 add rounded to the promoted dtype;
    without h, x = res), res_out = x (in res_out's dtype, a widening when the block keeps an fp32
    residual), out = the block's norm(x.to(IN_DTYPE)) as _rms_fwd_kernel computes it. res_out may
    be res itself: every element is read before it is written, by the same thread. res is read
    before the PDL wait: in a decode step the kernel before this one writes h, never res."""
    row = tl.program_id(0).to(tl.int64)
    h = tl.arange(0, BLOCK_H)
    mask = h < hidden
    x = tl.load(res_ptr + row * s_res_r + h, mask=mask, other=0.0).to(tl.float32)
    pdl_enter(PDL)
    if HAS_H:
        x = _round(x + tl.load(h_ptr + row * s_h_r + h, mask=mask, other=0.0).to(tl.float32), SUM_DTYPE, HW_ROUND)
    if WRITE_RES:
        tl.store(res_out_ptr + row * hidden + h, x.to(res_out_ptr.dtype.element_ty), mask=mask)
    out, r = _normed_row(_round(x, IN_DTYPE, HW_ROUND), w_ptr, h, mask, hidden, eps, IN_DTYPE,
                         out_ptr.dtype.element_ty, HW_ROUND)
    tl.store(out_ptr + row * hidden + h, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rms_bwd_kernel(
    x_ptr, w_ptr, r_ptr, dy_ptr, dx_ptr, dwp_ptr,
    n_rows, hidden,
    s_x_r, s_x_h, s_g_r, s_g_h,
    IN_DTYPE: tl.constexpr, HAS_DW: tl.constexpr, BLOCK_H: tl.constexpr, HW_ROUND: tl.constexpr,
):
    """Rows pid, pid + programs, ...; dw partial of those rows in dwp[pid]."""
    pid = tl.program_id(0).to(tl.int64)  # an int64 loop start makes the row index (and offsets) int64
    h = tl.arange(0, BLOCK_H)
    mask = h < hidden
    w = tl.load(w_ptr + h, mask=mask, other=0.0).to(tl.float32)
    dw = tl.zeros([BLOCK_H], dtype=tl.float32)
    for row in range(pid, n_rows, tl.num_programs(0)):
        xr = _round(tl.load(x_ptr + row * s_x_r + h * s_x_h, mask=mask, other=0.0).to(tl.float32), IN_DTYPE,
                    HW_ROUND)
        r = tl.load(r_ptr + row)
        xhat = xr * r
        dy = tl.load(dy_ptr + row * s_g_r + h * s_g_h, mask=mask, other=0.0).to(tl.float32)
        g = dy * w
        c = tl.sum(g * xhat, axis=0) / hidden
        tl.store(dx_ptr + row * hidden + h, (r * (g - xhat * c)).to(dx_ptr.dtype.element_ty), mask=mask)
        if HAS_DW:
            dw += dy * xhat
    if HAS_DW:
        tl.store(dwp_ptr + pid * hidden + h, dw, mask=mask)


def _num_warps(block_h: int) -> int:
    # 8-16 fp32 values per thread: the row stays in registers without spilling.
    return 1 if block_h <= 256 else 4 if block_h <= 2048 else 8


@functools.lru_cache(maxsize=None)
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def _bwd_programs(n_rows: int, device: torch.device, need_dw: bool) -> int:
    """Programs per SM, measured on an H200 at 16384 x 2560 (KERNELS.md): 4 saturate memory
    (3.9 TB/s); with dw, 2 are ~7% faster (fewer partials to write and sum)."""
    if interpreting() or device.type != "cuda":
        return max(1, min(n_rows, 3))  # several rows per program, so the tests cover the loop
    per_sm = 2 if need_dw else 4
    return max(1, min(n_rows, per_sm * _sm_count(device.index if device.index is not None else 0)))


def rms_forward(x, weight, eps: float, in_dtype: torch.dtype, out_dtype: torch.dtype | None = None,
                keep_narrow: bool = False):
    """(out, the input to keep for the backward as (rows, hidden), r). `keep_narrow`: when in_dtype
    is narrower than x's dtype, the kept input is round_in(x) in in_dtype, written by the kernel."""
    hidden = x.shape[-1]
    x2 = x.reshape(-1, hidden)  # a view, unless the leading dims cannot be flattened
    n_rows = x2.shape[0]
    out_dtype = out_dtype or torch.promote_types(weight.dtype, in_dtype)
    out = torch.empty(n_rows, hidden, dtype=out_dtype, device=x.device)
    r = torch.empty(n_rows, dtype=torch.float32, device=x.device)
    narrow = keep_narrow and in_dtype.itemsize < x.dtype.itemsize
    kept = torch.empty(n_rows, hidden, dtype=in_dtype, device=x.device) if narrow else x2
    block = triton.next_power_of_2(hidden)
    if n_rows:
        _rms_fwd_kernel[(n_rows,)](
            x2, weight, out, r, kept, hidden, eps, *x2.stride(),
            IN_DTYPE=_TL_DTYPES[in_dtype], BLOCK_H=block, HW_ROUND=not interpreting(), STORE_XR=narrow,
            num_warps=_num_warps(block),
        )
    return out.view(*x.shape[:-1], hidden), kept, r


def rms_backward(dy, x2, weight, r, in_dtype: torch.dtype, need_dw: bool, dx_dtype: torch.dtype | None = None):
    """dx (in dx_dtype, default x2's) and dw from the kept input x2 (x or round_in(x))."""
    n_rows, hidden = x2.shape
    dy2 = dy.reshape(-1, hidden)
    dx = torch.empty(n_rows, hidden, dtype=dx_dtype or x2.dtype, device=x2.device)
    programs = _bwd_programs(n_rows, x2.device, need_dw)
    dwp = torch.empty(programs if need_dw else 0, hidden, dtype=torch.float32, device=x2.device)
    block = triton.next_power_of_2(hidden)
    if n_rows:
        _rms_bwd_kernel[(programs,)](
            x2, weight, r, dy2, dx, dwp, n_rows, hidden, *x2.stride(), *dy2.stride(),
            IN_DTYPE=_TL_DTYPES[in_dtype], HAS_DW=need_dw, BLOCK_H=block, HW_ROUND=not interpreting(),
            num_warps=_num_warps(block),
        )
    dw = dwp.sum(0).to(weight.dtype) if need_dw else None
    return dx, dw


class RMSNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps, in_dtype, out_dtype):
        out, x2, r = rms_forward(x, weight, eps, in_dtype, out_dtype, keep_narrow=any(ctx.needs_input_grad[:2]))
        ctx.save_for_backward(x2, weight, r)
        ctx.in_dtype = in_dtype
        ctx.x_shape, ctx.x_dtype = x.shape, x.dtype
        return out

    @staticmethod
    def backward(ctx, dout):
        x2, weight, r = ctx.saved_tensors
        dx, dw = rms_backward(dout, x2, weight, r, ctx.in_dtype, ctx.needs_input_grad[1], ctx.x_dtype)
        return dx.view(ctx.x_shape), dw, None, None, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, in_dtype: torch.dtype | None = None,
             out_dtype: torch.dtype | None = None):
    """RMSNorm over the last dim of x (any float dtype, any strides), as transformers' MambaBlock
    computes `norm(x.to(in_dtype))`: x is rounded to `in_dtype` (default x.dtype) first, the
    normalised value is rounded to `in_dtype` before the weight multiply, and the result has
    dtype promote(weight.dtype, in_dtype). Gradients: x (in x's dtype) and weight.

    `out_dtype` rounds that result once more, to a narrower dtype: the same bits as
    `rms_norm(...).to(out_dtype)` (what autocast does to it in the next matmul), without
    writing and reading the wider tensor."""
    in_dtype = in_dtype or x.dtype
    if any(d not in _TL_DTYPES for d in (in_dtype, x.dtype, weight.dtype, out_dtype or in_dtype)):
        raise ValueError(f"rms_norm: x, weight, in_dtype and out_dtype must be fp32/bf16/fp16, got {x.dtype}, "
                         f"{weight.dtype}, {in_dtype}, {out_dtype}")
    if weight.shape != (x.shape[-1],):
        raise ValueError(f"rms_norm: weight must be (hidden={x.shape[-1]},), got {tuple(weight.shape)}")
    return RMSNormFn.apply(x, weight.contiguous(), float(eps), in_dtype, out_dtype)


def _rows(t: torch.Tensor) -> torch.Tensor:
    """(rows, hidden) with unit stride along hidden (a view when the layout allows it)."""
    t2 = t.reshape(-1, t.shape[-1])
    return t2 if t2.stride(-1) == 1 else t2.contiguous()


def add_rms_norm(residual: torch.Tensor, h: torch.Tensor | None, weight: torch.Tensor, eps: float,
                 in_dtype: torch.dtype, res_dtype: torch.dtype | None = None, res_out: torch.Tensor | None = None):
    """The residual add of one Mamba block and the RMSNorm of the next, as one kernel (inference
    only: no autograd). x = residual + h with torch's roundings (an fp32 add rounded to
    promote(residual.dtype, h.dtype)); x = residual when h is None. Returns (x stored as
    `res_dtype`, or None when res_dtype is None, `rms_norm(x, weight, eps, in_dtype)`), bit for
    bit what the add followed by rms_norm gives. `res_out` (contiguous, res_dtype, residual's
    shape; may be `residual` itself) receives x instead of a new tensor. Under programmatic
    dependent launch (a decode step, _launch.decode_pdl) `residual` is read before the kernel waits
    for the one before it: that kernel may write h, not the residual."""
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (residual, h, weight)):
        raise RuntimeError("add_rms_norm: inference only (no autograd); call it under torch.no_grad()")
    hidden = residual.shape[-1]
    dtypes = (residual.dtype, weight.dtype, in_dtype, *((h.dtype,) if h is not None else ()),
              *((res_dtype,) if res_dtype is not None else ()))
    if any(d not in _TL_DTYPES for d in dtypes):
        raise ValueError(f"add_rms_norm: residual, h, weight, in_dtype and res_dtype must be fp32/bf16/fp16, "
                         f"got {dtypes}")
    if h is not None and h.shape != residual.shape:
        raise ValueError(f"add_rms_norm: h has shape {tuple(h.shape)}, residual {tuple(residual.shape)}")
    if weight.shape != (hidden,):
        raise ValueError(f"add_rms_norm: weight must be (hidden={hidden},), got {tuple(weight.shape)}")
    sum_dtype = torch.promote_types(residual.dtype, h.dtype) if h is not None else residual.dtype
    res2, h2 = _rows(residual), _rows(h) if h is not None else None
    n_rows = res2.shape[0]
    if res_out is not None:
        if res_out.shape != residual.shape or res_out.dtype != res_dtype or not res_out.is_contiguous():
            raise ValueError(f"add_rms_norm: res_out must be a contiguous {res_dtype} tensor of shape "
                             f"{tuple(residual.shape)}, got {res_out.dtype} {tuple(res_out.shape)}")
    elif res_dtype is not None:
        res_out = torch.empty(residual.shape, dtype=res_dtype, device=residual.device)
    out = torch.empty(residual.shape, dtype=torch.promote_types(weight.dtype, in_dtype), device=residual.device)
    block = triton.next_power_of_2(hidden)
    if n_rows:
        _add_rms_fwd_kernel[(n_rows,)](
            res2, h2 if h2 is not None else res2, weight.contiguous(), res_out if res_out is not None else out, out,
            hidden, float(eps), res2.stride(0), h2.stride(0) if h2 is not None else 0,
            HAS_H=h2 is not None, WRITE_RES=res_out is not None, SUM_DTYPE=_TL_DTYPES[sum_dtype],
            IN_DTYPE=_TL_DTYPES[in_dtype], BLOCK_H=block, HW_ROUND=not interpreting(), num_warps=_num_warps(block),
            **pdl_launch(n_rows),
        )
    return res_out, out
