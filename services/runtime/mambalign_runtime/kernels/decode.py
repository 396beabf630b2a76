"""Decode step kernels: one token through the conv state and the SSM state, in place.

Both update their state tensors in place and allocate only the output, so a decode loop built
on them can be captured in a CUDA graph (see ../decoding.py).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._launch import decode_tile, interpreting, pdl_launch, xproj_tile
from .pdl import pdl_enter
from .scan_common import softplus as _softplus


@triton.jit
def _conv_update_kernel(
    x_ptr, state_ptr, w_ptr, bias_ptr, out_ptr,
    dim,
    s_x_b, s_x_d, s_s_b, s_o_b, s_o_d,
    HAS_BIAS: tl.constexpr, SILU: tl.constexpr, K: tl.constexpr, KP: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """state (b, D, K) holds the last K inputs, oldest first; shift in x, return silu(conv).
    Each channel's K taps are one row of a [BLOCK_D, KP] tile, so its shifted state is written
    with one vector store (K strided 2-byte stores before: the kernel took 0.49 instead of
    0.99 ms a step at batch 256 on an H200). The state's rows and the weight are contiguous
    (strides K, 1; conv_update copies otherwise), so the compiler sees the alignment."""
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    kk = tl.arange(0, KP)
    mask = d < dim
    mask_k = mask[:, None] & (kk < K)[None, :]
    x = tl.load(x_ptr + pid_b * s_x_b + d * s_x_d, mask=mask, other=0.0)
    new = _shift_in(state_ptr + pid_b * s_s_b + d[:, None] * K, x[:, None], mask[:, None], kk[None, :], K)
    w = tl.load(w_ptr + d[:, None] * K + kk[None, :], mask=mask_k, other=0.0).to(tl.float32)
    acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + d, mask=mask, other=0.0).to(tl.float32)
    acc = _conv_taps(acc, new.to(tl.float32) * w, kk, K, SILU)
    tl.store(out_ptr + pid_b * s_o_b + d * s_o_d, acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _shift_in(srow, x, mask, kk, K: tl.constexpr):
    """Shift x into the conv state and return the new taps: srow points at each channel's K taps
    (oldest first; kk, the tap index, on the last axis), x and mask have a size-1 tap axis."""
    return _shift_store(srow, x, _kept_taps(srow, mask, kk, K), mask, kk, K)


@triton.jit
def _kept_taps(srow, mask, kk, K: tl.constexpr):
    """The K - 1 newest taps of the conv state (at kk 0..K-2; what _shift_store keeps)."""
    return tl.load(srow + kk + 1, mask=mask & (kk < K - 1), other=0.0)


@triton.jit
def _shift_store(srow, x, kept, mask, kk, K: tl.constexpr):
    """_shift_in with the kept taps already loaded."""
    new = tl.where(kk == K - 1, x.to(srow.dtype.element_ty), kept)
    tl.store(srow + kk, new, mask=mask & (kk < K))
    return new


@triton.jit
def _conv_taps(acc, prod, kk, K: tl.constexpr, SILU: tl.constexpr):
    """acc (the bias or zeros) + the sum of prod's K taps (its last axis), then SiLU if asked."""
    for k in tl.static_range(K):  # tap by tap, oldest first (a sum of one nonzero term is exact)
        acc += tl.sum(tl.where(kk == k, prod, 0.0), axis=-1)
    if SILU:
        acc = acc * tl.sigmoid(acc)
    return acc


@triton.jit
def _conv_xproj_kernel(
    x_ptr, state_ptr, w_ptr, bias_ptr, out_ptr, wx_ptr, proj_ptr, zero_ptr,
    batch, dim, n_proj,
    s_x_b, s_x_d, s_s_b, s_o_b, s_o_d, s_wx_e, s_wx_d,
    HAS_BIAS: tl.constexpr, SILU: tl.constexpr, K: tl.constexpr, KP: tl.constexpr, BLOCK_B: tl.constexpr,
    BLOCK_D: tl.constexpr, SUB_D: tl.constexpr, BLOCK_E: tl.constexpr, USE_DOT: tl.constexpr,
    DOT_F32: tl.constexpr, ZERO_NEXT: tl.constexpr, PDL: tl.constexpr,
):
    """_conv_update_kernel for BLOCK_B rows x BLOCK_D channels, SUB_D channels at a time, plus
    this block's share of x_proj: proj (b, n_proj) fp32 += xc[:, block] @ W_x[:, block].T, with xc
    as stored (the model's dtype), as transformers' x_proj reads it. proj must be zero before the
    first program adds to it; with ZERO_NEXT the first channel block's programs zero zero_ptr's
    rows (the buffer the next layer adds into: see patch.py)."""
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    rb = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
    kk = tl.arange(0, KP)
    e = tl.arange(0, BLOCK_E)
    mask_b = rb < batch
    mask_e = e < n_proj
    if USE_DOT:
        acc = tl.zeros([BLOCK_B, BLOCK_E], dtype=tl.float32)
    else:  # one row (BLOCK_B 1): products summed across channels once, after the loop
        acc = tl.zeros([SUB_D, BLOCK_E], dtype=tl.float32)
    # Each SUB_D step's conv taps, weights and W_x columns are loaded one step ahead, the first before
    # the PDL wait: no earlier kernel of the decode step writes them (this layer's conv state was last
    # written a step ago), so they arrive while the kernel before (in_proj) finishes.
    d = pid_d * BLOCK_D + tl.arange(0, SUB_D)
    kept, w, bias, wx = _conv_xproj_operands(state_ptr, w_ptr, bias_ptr, wx_ptr, rb, mask_b, d, d < dim, kk, e,
                                             mask_e, s_s_b, s_wx_e, s_wx_d, K)
    pdl_enter(PDL)
    for d0 in range(0, BLOCK_D, SUB_D):
        d = pid_d * BLOCK_D + d0 + tl.arange(0, SUB_D)
        mask_d = d < dim
        mask_bd = mask_b[:, None] & mask_d[None, :]
        ahead = _conv_xproj_operands(state_ptr, w_ptr, bias_ptr, wx_ptr, rb, mask_b, d + SUB_D,
                                     (d + SUB_D < dim) & (d0 + SUB_D < BLOCK_D), kk, e, mask_e, s_s_b, s_wx_e,
                                     s_wx_d, K)
        x = tl.load(x_ptr + rb[:, None] * s_x_b + d[None, :] * s_x_d, mask=mask_bd, other=0.0)
        new = _shift_store(state_ptr + rb[:, None, None] * s_s_b + d[None, :, None] * K, x[:, :, None], kept,
                           mask_bd[:, :, None], kk[None, None, :], K)
        xc = tl.zeros([BLOCK_B, SUB_D], dtype=tl.float32)
        if HAS_BIAS:
            xc += bias.to(tl.float32)[None, :]
        xc = _conv_taps(xc, new.to(tl.float32) * w.to(tl.float32)[None, :, :], kk[None, None, :], K, SILU)
        xc = xc.to(out_ptr.dtype.element_ty)
        tl.store(out_ptr + rb[:, None] * s_o_b + d[None, :] * s_o_d, xc, mask=mask_bd)
        if USE_DOT:
            if DOT_F32:
                acc = tl.dot(xc.to(tl.float32), wx.to(tl.float32), acc, input_precision="ieee")
            else:
                acc = tl.dot(xc, wx, acc)
        else:
            acc += tl.sum(xc.to(tl.float32), axis=0)[:, None] * wx.to(tl.float32)  # sum of one row: the row
        kept, w, bias, wx = ahead
    if USE_DOT:
        part = acc
    else:
        part = tl.sum(acc, axis=0)[None, :]
    mask_be = mask_b[:, None] & mask_e[None, :]
    tl.atomic_add(proj_ptr + rb[:, None] * n_proj + e[None, :], part, mask=mask_be, sem="relaxed")
    if ZERO_NEXT:
        if pid_d == 0:
            tl.store(zero_ptr + rb[:, None] * n_proj + e[None, :], tl.zeros([BLOCK_B, BLOCK_E], dtype=tl.float32),
                     mask=mask_be)


@triton.jit
def _conv_xproj_operands(state_ptr, w_ptr, bias_ptr, wx_ptr, rb, mask_b, d, mask_d, kk, e, mask_e, s_s_b, s_wx_e,
                         s_wx_d, K: tl.constexpr):
    """For rows rb and channels d: the conv state's kept taps (_kept_taps), the conv weight and bias
    (bias_ptr is any readable (D,) tensor without one) and W_x[:, d].T, (SUB_D, BLOCK_E)."""
    mask_bd = mask_b[:, None] & mask_d[None, :]
    kept = _kept_taps(state_ptr + rb[:, None, None] * s_s_b + d[None, :, None] * K, mask_bd[:, :, None],
                      kk[None, None, :], K)
    w = tl.load(w_ptr + d[:, None] * K + kk[None, :], mask=mask_d[:, None] & (kk < K)[None, :], other=0.0)
    bias = tl.load(bias_ptr + d, mask=mask_d, other=0.0)
    wx = tl.load(wx_ptr + e[None, :] * s_wx_e + d[:, None] * s_wx_d, mask=mask_d[:, None] & mask_e[None, :], other=0.0)
    return kept, w, bias, wx


@triton.jit
def _rounded(v, like_ptr, ROUND: tl.constexpr):
    """v rounded to like_ptr's element type (conv_xproj's fp32 sums as x_proj would return them)."""
    if ROUND:
        v = v.to(like_ptr.dtype.element_ty)
    return v


@triton.jit
def _state_update_kernel(
    state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr, w_ptr,
    dim, dstate, rank,
    s_s_b, s_s_d, s_s_n, s_x_b, s_x_d, s_dt_b, s_dt_d, s_A_d, s_A_n, s_B_b, s_B_n, s_C_b, s_C_n,
    s_z_b, s_z_d, s_o_b, s_o_d, s_w_d, s_w_r,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    A_IS_LOG: tl.constexpr, DT_PROJ: tl.constexpr, ROUND: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr, PDL: tl.constexpr,
):
    """h = exp(dt*A) h + dt*B*x (fp32 math, stored in the state's dtype); y = (h.C + D x) silu(z).
    With DT_PROJ, dt_ptr holds the low-rank time step (b, rank) and dt = W @ it (W: dim x rank).
    The state, A, the bias and dt_proj's first columns are loaded before the PDL wait: no earlier
    kernel of the decode step writes them (this layer's state was last written a step ago)."""
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    rr = tl.arange(0, BLOCK_R)
    mask_d = d < dim
    mask_n = n < dstate
    mask = mask_d[:, None] & mask_n[None, :]
    sp = state_ptr + pid_b * s_s_b + d[:, None] * s_s_d + n[None, :] * s_s_n
    h = tl.load(sp, mask=mask, other=0.0).to(tl.float32)
    A = tl.load(A_ptr + d[:, None] * s_A_d + n[None, :] * s_A_n, mask=mask, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + d, mask=mask_d & HAS_BIAS, other=0.0).to(tl.float32)
    if DT_PROJ:
        w_next = tl.load(w_ptr + d[:, None] * s_w_d + rr[None, :] * s_w_r,
                         mask=mask_d[:, None] & (rr < rank)[None, :], other=0.0)
    pdl_enter(PDL)
    x = tl.load(x_ptr + pid_b * s_x_b + d * s_x_d, mask=mask_d, other=0.0).to(tl.float32)
    if DT_PROJ:
        dt = tl.zeros([BLOCK_D], dtype=tl.float32)
        for r0 in range(0, rank, BLOCK_R):
            r = r0 + rr
            ts = _rounded(tl.load(dt_ptr + pid_b * s_dt_b + r * s_dt_d, mask=r < rank, other=0.0), x_ptr,
                          ROUND).to(tl.float32)
            w = w_next
            w_next = tl.load(w_ptr + d[:, None] * s_w_d + (r + BLOCK_R)[None, :] * s_w_r,
                             mask=mask_d[:, None] & (r + BLOCK_R < rank)[None, :], other=0.0)
            dt += tl.sum(w.to(tl.float32) * ts[None, :], axis=1)
    else:
        dt = _rounded(tl.load(dt_ptr + pid_b * s_dt_b + d * s_dt_d, mask=mask_d, other=0.0), x_ptr,
                      ROUND).to(tl.float32)
    if HAS_BIAS:
        dt += bias
    if SOFTPLUS:
        dt = _softplus(dt)
    if A_IS_LOG:
        A = -tl.exp(A)
    Bv = _rounded(tl.load(B_ptr + pid_b * s_B_b + n * s_B_n, mask=mask_n, other=0.0), x_ptr, ROUND).to(tl.float32)
    Cv = _rounded(tl.load(C_ptr + pid_b * s_C_b + n * s_C_n, mask=mask_n, other=0.0), x_ptr, ROUND).to(tl.float32)
    h = tl.exp(dt[:, None] * A) * h + (dt * x)[:, None] * Bv[None, :]
    tl.store(sp, h.to(state_ptr.dtype.element_ty), mask=mask)
    y = tl.sum(h * Cv[None, :], axis=1)
    if HAS_D:
        y += x * tl.load(D_ptr + d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_Z:
        z = tl.load(z_ptr + pid_b * s_z_b + d * s_z_d, mask=mask_d, other=0.0).to(tl.float32)
        y = y * z * tl.sigmoid(z)
    tl.store(out_ptr + pid_b * s_o_b + d * s_o_d, y.to(out_ptr.dtype.element_ty), mask=mask_d)


@triton.jit
def _state_update_rows_kernel(
    state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr, w_ptr,
    batch, dim, dstate, rank,
    s_s_b, s_s_d, s_s_n, s_x_b, s_x_d, s_dt_b, s_dt_d, s_A_d, s_A_n, s_B_b, s_B_n, s_C_b, s_C_n,
    s_z_b, s_z_d, s_o_b, s_o_d, s_w_d, s_w_r,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    A_IS_LOG: tl.constexpr, DT_PROJ: tl.constexpr, ROUND: tl.constexpr, DOT_F32: tl.constexpr, BLOCK_B: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr,
):
    """_state_update_kernel for BLOCK_B batch rows x BLOCK_D channels per program: dt_proj's
    weight, A, D and the bias are read once per row block instead of once per row, and
    dt = time_step @ W.T runs on the tensor cores (exact products, fp32 sums)."""
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    rb = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    mask_b = rb < batch
    mask_d = d < dim
    mask_n = n < dstate
    mask_bd = mask_b[:, None] & mask_d[None, :]
    # The state (the bulk of the bytes) is loaded first, so its latency overlaps the dt dot.
    mask = mask_bd[:, :, None] & mask_n[None, None, :]
    sp = state_ptr + rb[:, None, None] * s_s_b + d[None, :, None] * s_s_d + n[None, None, :] * s_s_n
    h = tl.load(sp, mask=mask, other=0.0).to(tl.float32)
    if DT_PROJ:
        dt = tl.zeros([BLOCK_B, BLOCK_D], dtype=tl.float32)
        for r0 in range(0, rank, BLOCK_R):
            r = r0 + tl.arange(0, BLOCK_R)
            mask_r = r < rank
            ts = _rounded(tl.load(dt_ptr + rb[:, None] * s_dt_b + r[None, :] * s_dt_d,
                                  mask=mask_b[:, None] & mask_r[None, :], other=0.0), x_ptr, ROUND)
            w = tl.load(w_ptr + r[:, None] * s_w_r + d[None, :] * s_w_d, mask=mask_r[:, None] & mask_d[None, :],
                        other=0.0)
            if DOT_F32:
                dt = tl.dot(ts.to(tl.float32), w.to(tl.float32), dt, input_precision="ieee")
            else:
                dt = tl.dot(ts, w, dt)
    else:
        dt = _rounded(tl.load(dt_ptr + rb[:, None] * s_dt_b + d[None, :] * s_dt_d, mask=mask_bd, other=0.0), x_ptr,
                      ROUND).to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + d, mask=mask_d, other=0.0).to(tl.float32)[None, :]
    if SOFTPLUS:
        dt = _softplus(dt)
    A = tl.load(A_ptr + d[:, None] * s_A_d + n[None, :] * s_A_n, mask=mask_d[:, None] & mask_n[None, :],
                other=0.0).to(tl.float32)
    if A_IS_LOG:
        A = -tl.exp(A)
    x = tl.load(x_ptr + rb[:, None] * s_x_b + d[None, :] * s_x_d, mask=mask_bd, other=0.0).to(tl.float32)
    Bv = _rounded(tl.load(B_ptr + rb[:, None] * s_B_b + n[None, :] * s_B_n, mask=mask_b[:, None] & mask_n[None, :],
                          other=0.0), x_ptr, ROUND).to(tl.float32)
    Cv = _rounded(tl.load(C_ptr + rb[:, None] * s_C_b + n[None, :] * s_C_n, mask=mask_b[:, None] & mask_n[None, :],
                          other=0.0), x_ptr, ROUND).to(tl.float32)
    h = tl.exp(dt[:, :, None] * A[None, :, :]) * h + (dt * x)[:, :, None] * Bv[:, None, :]
    tl.store(sp, h.to(state_ptr.dtype.element_ty), mask=mask)
    y = tl.sum(h * Cv[:, None, :], axis=2)
    if HAS_D:
        y += x * tl.load(D_ptr + d, mask=mask_d, other=0.0).to(tl.float32)[None, :]
    if HAS_Z:
        z = tl.load(z_ptr + rb[:, None] * s_z_b + d[None, :] * s_z_d, mask=mask_bd, other=0.0).to(tl.float32)
        y = y * z * tl.sigmoid(z)
    tl.store(out_ptr + rb[:, None] * s_o_b + d[None, :] * s_o_d, y.to(out_ptr.dtype.element_ty), mask=mask_bd)


def _conv_operands(name, x, conv_state, weight):
    """(K, state with contiguous taps, contiguous weight) for a conv update, shapes checked."""
    b, dim = x.shape
    K = weight.shape[1]
    if conv_state.shape != (b, dim, K):
        raise ValueError(f"{name}: conv_state must be {(b, dim, K)}, got {tuple(conv_state.shape)}")
    state = conv_state if conv_state.stride()[1:] == (K, 1) else conv_state.contiguous()
    return K, state, weight.contiguous()


def conv_update(x, conv_state, weight, bias=None, silu=True):
    """x (b, D); conv_state (b, D, K) updated in place; weight (D, K). Returns (b, D) in x's dtype."""
    b, dim = x.shape
    K, state, w = _conv_operands("conv_update", x, conv_state, weight)
    out = torch.empty_like(x)
    BD = 16 if interpreting() else 256
    _conv_update_kernel[(triton.cdiv(dim, BD), b)](
        x, state, w, bias if bias is not None else w, out, dim, *x.stride(), state.stride(0), *out.stride(),
        HAS_BIAS=bias is not None, SILU=silu, K=K, KP=triton.next_power_of_2(K), BLOCK_D=BD,
    )
    if state is not conv_state:
        conv_state.copy_(state)
    return out


def conv_xproj(x, conv_state, weight, bias, silu, x_proj_weight, proj, zero_next=None):
    """conv_update and x_proj's share of the decode step in one launch: returns xc (b, D) in x's
    dtype and adds xc @ x_proj_weight.T (x_proj_weight (E, D), x's dtype) into `proj`, a (b, E)
    fp32 buffer the caller zeroed (the sums are fp32; round them to x's dtype as transformers'
    x_proj output is: state_update's `round_inputs`). `zero_next`, if given, a (b, E) fp32 buffer
    this launch sets to zero (the next layer's proj; see patch.py for why)."""
    b, dim = x.shape
    K, state, w = _conv_operands("conv_xproj", x, conv_state, weight)
    n_proj = x_proj_weight.shape[0]
    if x_proj_weight.shape != (n_proj, dim) or x_proj_weight.dtype != x.dtype:
        raise ValueError(f"conv_xproj: x_proj_weight must be (E, {dim}) in {x.dtype}, got "
                         f"{tuple(x_proj_weight.shape)} {x_proj_weight.dtype}")
    for name, buf in (("proj", proj), ("zero_next", zero_next)):
        if buf is not None and (buf.shape != (b, n_proj) or buf.dtype != torch.float32 or not buf.is_contiguous()):
            raise ValueError(f"conv_xproj: {name} must be a contiguous ({b}, {n_proj}) fp32 tensor, got "
                             f"{tuple(buf.shape)} {buf.dtype}")
    out = torch.empty_like(x)
    tile = xproj_tile(b)
    BB, BD = tile["BLOCK_B"], tile["BLOCK_D"]
    # fp32 operands take the exact fp32 dot, and so does the CPU interpreter (see state_update).
    dot_f32 = x.dtype == torch.float32 or interpreting()
    _conv_xproj_kernel[(triton.cdiv(dim, BD), triton.cdiv(b, BB))](
        x, state, w, bias if bias is not None else w, out, x_proj_weight, proj,
        zero_next if zero_next is not None else proj, b, dim, n_proj,
        *x.stride(), state.stride(0), *out.stride(), *x_proj_weight.stride(),
        HAS_BIAS=bias is not None, SILU=silu, K=K, KP=triton.next_power_of_2(K), BLOCK_B=BB, BLOCK_D=BD,
        SUB_D=tile["SUB_D"], BLOCK_E=max(16, triton.next_power_of_2(n_proj)), USE_DOT=tile["USE_DOT"],
        DOT_F32=dot_f32, ZERO_NEXT=zero_next is not None, num_warps=tile["num_warps"], **pdl_launch(b),
    )
    if state is not conv_state:
        conv_state.copy_(state)
    return out


def state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False, A_is_log=False,
                 dt_weight=None, round_inputs=False):
    """state (b, D, N) updated in place; x, dt, z (b, D); A (D, N); B, C (b, N). Returns (b, D).

    The decode loop's launch savers: with `A_is_log`, A holds A_log and the kernel forms
    -exp(A_log) itself; with `dt_weight` (D, R), `dt` is the low-rank time step (b, R) and the
    kernel applies dt_proj's weight itself (dt = dt @ dt_weight.T, in fp32); with `round_inputs`,
    dt, B and C (fp32: conv_xproj's sums) are rounded to x's dtype as they are loaded, as if x_proj
    had returned them in the model's dtype."""
    b, dim = x.shape
    n = A.shape[1]
    if state.shape != (b, dim, n):
        raise ValueError(f"state_update: state must be {(b, dim, n)}, got {tuple(state.shape)}")
    rank = dt_weight.shape[1] if dt_weight is not None else 0
    if dt_weight is not None and (dt_weight.shape[0] != dim or dt.shape != (b, rank)):
        raise ValueError(f"state_update: with dt_weight {tuple(dt_weight.shape)}, dt must be (b, {rank}) and "
                         f"dt_weight ({dim}, rank); got dt {tuple(dt.shape)}")
    out = torch.empty_like(x)
    BN = triton.next_power_of_2(n)
    zz = z if z is not None else x
    w = dt_weight if dt_weight is not None else x
    args = (state, x, dt, A, B, C, D if D is not None else x, zz, dt_bias if dt_bias is not None else x, out, w)
    strides = (*state.stride(), *x.stride(), *dt.stride(), *A.stride(), *B.stride(), *C.stride(),
               *zz.stride(), *out.stride(), *(w.stride() if dt_weight is not None else (0, 0)))
    flags = dict(HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=dt_bias is not None, SOFTPLUS=dt_softplus,
                 A_IS_LOG=A_is_log, DT_PROJ=dt_weight is not None, ROUND=round_inputs, BLOCK_N=BN)
    tile = decode_tile(b)
    if tile is not None:
        # Row blocks: the tensor-core dot needs 16 x 16 tiles at least; fp32 or mixed operands
        # take the exact fp32 dot instead of bf16 / fp16 on the tensor cores, and so does the CPU
        # interpreter (Triton 3.6's multiplies bf16 operands wrongly; their products are exact
        # in fp32, so the result is the same).
        ts_dtype = x.dtype if round_inputs else dt.dtype
        dot_f32 = dt_weight is not None and (dt_weight.dtype == torch.float32 or ts_dtype != dt_weight.dtype
                                             or interpreting())
        BB, BD = tile["BLOCK_B"], tile["BLOCK_D"]
        # The tile was sized for 16 states (Mamba-1); more warps for larger ones keep the state in registers.
        warps = min(16, tile["num_warps"] * max(1, BN // 16))
        _state_update_rows_kernel[(triton.cdiv(dim, BD), triton.cdiv(b, BB))](
            *args, b, dim, n, rank, *strides, **flags, DOT_F32=dot_f32, BLOCK_B=BB, BLOCK_D=BD,
            BLOCK_R=tile["BLOCK_R"], num_warps=warps,
        )
        return out
    # Small channel blocks: at batch 1 a step is latency-bound, so spread it over many programs.
    BD = 8 if interpreting() else max(1, 512 // BN)
    _state_update_kernel[(triton.cdiv(dim, BD), b)](
        *args, dim, n, rank, *strides, **flags, BLOCK_D=BD, BLOCK_R=8 if interpreting() else 32, **pdl_launch(b),
    )
    return out
