"""y = x @ W.T for the few rows of a decode step (x (M, K), W (N, K) row-major, as nn.Linear keeps it).

At one row out_proj and in_proj only stream their weights (26 and 52 MB a layer at the 2.8B shape),
and cuBLAS ran out_proj as a split-K GEMM plus a reduce kernel (_launch.GEMV_TILE has the
measurements). Here each program owns BLOCK_N output columns for all M rows and walks K in BLOCK_K
steps with 16-byte loads along W's rows, keeping fp32 products per (row, column, k lane) and summing
over k once at the end (bf16 products are exact in fp32; one rounding at the store, as cuBLAS rounds
its fp32 sum). The weight's next step is loaded while this one is multiplied, and its first step
before the program waits for the kernels it depends on (programmatic dependent launch): the weights
are never written by the decode step, so those loads overlap the end of the kernel before.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._launch import gemv_tile, interpreting, pdl_launch
from .pdl import pdl_enter


@triton.jit
def _weights(w_rows, mask_n, kk, K):
    """W[columns, kk] ([BLOCK_N, BLOCK_K]); zeros past K (no memory traffic for those lanes)."""
    return tl.load(w_rows + kk[None, :], mask=mask_n[:, None] & (kk < K)[None, :], other=0.0)


@triton.jit
def _gemv_kernel(x_ptr, w_ptr, out_ptr, M, N, K, s_xm, s_wn, s_om,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, PDL: tl.constexpr):
    pid = tl.program_id(0)
    rn = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    rm = tl.arange(0, BLOCK_M)
    mask_n = rn < N
    mask_m = rm < M
    w_rows = w_ptr + rn[:, None] * s_wn
    x_rows = x_ptr + rm[:, None] * s_xm
    w_next = _weights(w_rows, mask_n, rk, K)
    pdl_enter(PDL)
    acc = tl.zeros([BLOCK_M, BLOCK_N, BLOCK_K], dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        kk = k + rk
        w = w_next
        w_next = _weights(w_rows, mask_n, kk + BLOCK_K, K)
        x = tl.load(x_rows + kk[None, :], mask=mask_m[:, None] & (kk < K)[None, :], other=0.0)
        acc += x.to(tl.float32)[:, None, :] * w.to(tl.float32)[None, :, :]
    y = tl.sum(acc, axis=2)
    tl.store(out_ptr + rm[:, None] * s_om + rn[None, :], y.to(out_ptr.dtype.element_ty),
             mask=mask_m[:, None] & mask_n[None, :])


def gemv(x: torch.Tensor, weight: torch.Tensor, config: dict | None = None) -> torch.Tensor:
    """x (..., K) @ weight (N, K).T -> (..., N) in x's dtype, for a few rows (at most 8); `config`
    (keys of _launch.GEMV_TILE) over _launch.gemv_tile()."""
    interpreting()  # applies the CPU interpreter's fixes when it is on
    cfg = {**gemv_tile(), **(config or {})}
    n, k = weight.shape
    if x.shape[-1] != k:
        raise ValueError(f"gemv: x has {x.shape[-1]} features, weight expects {k}")
    if weight.stride(1) != 1:
        raise ValueError("gemv: weight must be contiguous along its input features")
    rows = x.reshape(-1, k)
    if rows.stride(-1) != 1:
        rows = rows.contiguous()
    m = rows.shape[0]
    if m > 8:
        raise ValueError(f"gemv: {m} rows; use a GEMM from 9 rows on")
    out = torch.empty(m, n, dtype=x.dtype, device=x.device)
    _gemv_kernel[(triton.cdiv(n, cfg["BLOCK_N"]),)](
        rows, weight, out, m, n, k, rows.stride(0), weight.stride(0), out.stride(0),
        BLOCK_M=triton.next_power_of_2(m), BLOCK_N=cfg["BLOCK_N"], BLOCK_K=cfg["BLOCK_K"], num_warps=cfg["num_warps"],
        **pdl_launch(m))
    return out.reshape(*x.shape[:-1], n)
