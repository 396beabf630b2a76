"""Causal depthwise conv1d (Mamba's short convolution, kernel 4) with fused SiLU, in Triton.

    out[b, d, t] = silu(bias[d] + sum_k weight[d, k] * x[b, d, t - (K-1) + k])   (x = 0 for t < 0)

Tiles are [BLOCK_L, BLOCK_D] with channels fastest, matching the (b, L, D) memory layout that
in_proj produces; the output is a (b, D, L) view of a (b, L, D) tensor, so x_proj reads it
without a copy. The backward recomputes the pre-activation, so nothing but x is saved.

Backward for K = 4 (every Mamba model): each program walks a chunk of time one row of channels
at a time, keeping the last three x rows, their document ids and the three unfinished dx rows in
registers, so x and dout are read once (plus a 3-row halo) and the weight/bias gradients are
per-thread sums (no cross-thread reduction). Other K use the general kernel, which recomputes
the pre-activation at the K outputs each input feeds from K fresh loads.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._launch import interpreting


@triton.jit
def _conv_fwd_kernel(
    x_ptr, w_ptr, bias_ptr, out_ptr, seq_ptr,
    dim, seqlen,
    s_x_b, s_x_d, s_x_l, s_w_d, s_w_k, s_o_b, s_o_d, s_o_l, s_s_b, s_s_l,
    HAS_BIAS: tl.constexpr, SILU: tl.constexpr, K: tl.constexpr, HAS_SEQ: tl.constexpr,
    BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_l = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_b = tl.program_id(2)
    t = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = d < dim
    x_ptr += pid_b * s_x_b
    seq_ptr += pid_b * s_s_b
    acc = tl.zeros([BLOCK_L, BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + d, mask=mask_d, other=0.0).to(tl.float32)[None, :]
    if HAS_SEQ:
        doc = tl.load(seq_ptr + t * s_s_l, mask=t < seqlen, other=-1)
    for k in tl.static_range(K):
        src = t - (K - 1) + k
        ok = (src >= 0) & (src < seqlen)
        if HAS_SEQ:
            # A tap reads only inputs of the output's own document.
            ok = ok & (tl.load(seq_ptr + src * s_s_l, mask=ok, other=-1) == doc)
        m = ok[:, None] & mask_d[None, :]
        xk = tl.load(x_ptr + src[:, None] * s_x_l + d[None, :] * s_x_d, mask=m, other=0.0).to(tl.float32)
        wk = tl.load(w_ptr + d * s_w_d + k * s_w_k, mask=mask_d, other=0.0).to(tl.float32)
        acc += xk * wk[None, :]
    if SILU:
        acc = acc * tl.sigmoid(acc)
    m_out = (t < seqlen)[:, None] & mask_d[None, :]
    tl.store(out_ptr + pid_b * s_o_b + t[:, None] * s_o_l + d[None, :] * s_o_d,
             acc.to(out_ptr.dtype.element_ty), mask=m_out)


@triton.jit
def _conv_bwd_kernel(
    x_ptr, w_ptr, bias_ptr, dout_ptr, dx_ptr, dwp_ptr, dbp_ptr, seq_ptr,
    dim, seqlen,
    s_x_b, s_x_d, s_x_l, s_w_d, s_w_k, s_g_b, s_g_d, s_g_l, s_s_b, s_s_l,
    HAS_BIAS: tl.constexpr, SILU: tl.constexpr, K: tl.constexpr, HAS_SEQ: tl.constexpr,
    BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """dx[t] = sum_j w[K-1-j] * g[t+j], g = dout * silu'(pre). dw/db partials per (L block, b)
    in [n_lblocks * b, D, K] / [n_lblocks * b, D], summed by the caller."""
    pid_l = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_b = tl.program_id(2)
    t = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = d < dim
    x_ptr += pid_b * s_x_b
    dout_ptr += pid_b * s_g_b
    seq_ptr += pid_b * s_s_b
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + d, mask=mask_d, other=0.0).to(tl.float32)
    part = pid_b * tl.num_programs(0) + pid_l
    dx = tl.zeros([BLOCK_L, BLOCK_D], dtype=tl.float32)
    if HAS_SEQ:
        doc_t = tl.load(seq_ptr + t * s_s_l, mask=t < seqlen, other=-1)
    for j in tl.static_range(K):
        s = t + j
        if HAS_SEQ:
            doc_s = tl.load(seq_ptr + s * s_s_l, mask=s < seqlen, other=-1)
        pre = tl.zeros([BLOCK_L, BLOCK_D], dtype=tl.float32) + bias[None, :]
        for k in tl.static_range(K):
            src = s - (K - 1) + k
            ok = (src >= 0) & (src < seqlen)
            if HAS_SEQ:
                ok = ok & (tl.load(seq_ptr + src * s_s_l, mask=ok, other=-1) == doc_s)
            m = ok[:, None] & mask_d[None, :]
            xk = tl.load(x_ptr + src[:, None] * s_x_l + d[None, :] * s_x_d, mask=m, other=0.0).to(tl.float32)
            wk = tl.load(w_ptr + d * s_w_d + k * s_w_k, mask=mask_d, other=0.0).to(tl.float32)
            pre += xk * wk[None, :]
        ok_s = s < seqlen
        if HAS_SEQ:
            # Output s reads x[t] only when both lie in the same document.
            ok_s = ok_s & (doc_s == doc_t)
        m_s = ok_s[:, None] & mask_d[None, :]
        g = tl.load(dout_ptr + s[:, None] * s_g_l + d[None, :] * s_g_d, mask=m_s, other=0.0).to(tl.float32)
        if SILU:
            sg = tl.sigmoid(pre)
            g = g * sg * (1.0 + pre * (1.0 - sg))
        wj = tl.load(w_ptr + d * s_w_d + (K - 1 - j) * s_w_k, mask=mask_d, other=0.0).to(tl.float32)
        dx += g * wj[None, :]
        if j == 0:
            # g at this tile's own positions: weight and bias gradients.
            for k in tl.static_range(K):
                src = t - (K - 1) + k
                ok = (src >= 0) & (src < seqlen)
                if HAS_SEQ:
                    ok = ok & (tl.load(seq_ptr + src * s_s_l, mask=ok, other=-1) == doc_t)
                m = ok[:, None] & mask_d[None, :]
                xk = tl.load(x_ptr + src[:, None] * s_x_l + d[None, :] * s_x_d, mask=m, other=0.0).to(tl.float32)
                tl.store(dwp_ptr + part * dim * K + d * K + k, tl.sum(g * xk, axis=0), mask=mask_d)
            if HAS_BIAS:
                tl.store(dbp_ptr + part * dim + d, tl.sum(g, axis=0), mask=mask_d)
    m_out = (t < seqlen)[:, None] & mask_d[None, :]
    tl.store(dx_ptr + pid_b * s_g_b + t[:, None] * s_g_l + d[None, :] * s_g_d,
             dx.to(dx_ptr.dtype.element_ty), mask=m_out)


@triton.jit
def _bwd4_step(
    x_ptr, g_ptr, dx_ptr, seq_ptr, s, c0, seqlen, d, mask_d, s_x_d, s_x_l, s_g_d, s_g_l, s_s_l,
    w0, w1, w2, w3, bias, xa, xb, xc, qa, qb, qc, aa, ab, ac, dw0, dw1, dw2, dw3, db,
    HAS_SEQ: tl.constexpr, SILU: tl.constexpr, IN_CHUNK: tl.constexpr,
):
    """Output s = tap 3 of the row: x[s-3..s] are xa, xb, xc and the row loaded here (docs qa..qd),
    aa/ab/ac the dx rows s-3..s-1 still collecting. Row s-3 is complete after this step and is
    stored; the window moves one row on."""
    ok = s < seqlen
    m = mask_d & ok
    xd = tl.load(x_ptr + s * s_x_l + d * s_x_d, mask=m, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + s * s_g_l + d * s_g_d, mask=m, other=0.0).to(tl.float32)
    pre = bias + w3 * xd
    if HAS_SEQ:
        # Tap k of output s reads x[s-3+k] only inside output s's document; the same mask
        # gates the gradient flowing back to that input.
        qd = tl.load(seq_ptr + s * s_s_l, mask=ok, other=-1)
        ma = (qa == qd).to(tl.float32)
        mb = (qb == qd).to(tl.float32)
        mc = (qc == qd).to(tl.float32)
        pre += (w0 * ma) * xa + (w1 * mb) * xb + (w2 * mc) * xc
    else:
        qd = qc
        pre += w0 * xa + w1 * xb + w2 * xc
    if SILU:
        sg = tl.sigmoid(pre)
        g = g * sg * (1.0 + pre * (1.0 - sg))
    if IN_CHUNK:
        db += g
        dw3 += g * xd
    if HAS_SEQ:
        ga, gb, gc = g * ma, g * mb, g * mc
    else:
        ga, gb, gc = g, g, g
    if IN_CHUNK:
        dw0 += ga * xa
        dw1 += gb * xb
        dw2 += gc * xc
    aa += w0 * ga
    t = s - 3
    # Rows before the chunk belong to the previous program (only its partial sums are here).
    tl.store(dx_ptr + t * s_g_l + d * s_g_d, aa.to(dx_ptr.dtype.element_ty),
             mask=mask_d & (t >= c0) & (t < seqlen))
    return xb, xc, xd, qb, qc, qd, ab + w1 * gb, ac + w2 * gc, w3 * g, dw0, dw1, dw2, dw3, db


@triton.jit
def _conv_bwd4_kernel(
    x_ptr, w_ptr, bias_ptr, dout_ptr, dx_ptr, dwp_ptr, dbp_ptr, seq_ptr,
    dim, seqlen,
    s_x_b, s_x_d, s_x_l, s_w_d, s_w_k, s_g_b, s_g_d, s_g_l, s_s_b, s_s_l,
    HAS_BIAS: tl.constexpr, SILU: tl.constexpr, HAS_SEQ: tl.constexpr,
    CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, UNROLL: tl.constexpr,
):
    """K = 4 backward over rows [c0, c0 + CHUNK) of BLOCK_D channels. The chunk's last 3 rows need
    g of the 3 rows after it, so 3 more steps run without adding to dw/db. Partials go to
    dwp [b * n_chunks, 4, D] and dbp [b * n_chunks, D]."""
    pid_l = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_b = tl.program_id(2)
    c0 = pid_l * CHUNK
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = d < dim
    x_ptr += pid_b * s_x_b
    dout_ptr += pid_b * s_g_b
    dx_ptr += pid_b * s_g_b
    seq_ptr += pid_b * s_s_b
    w0 = tl.load(w_ptr + d * s_w_d, mask=mask_d, other=0.0).to(tl.float32)
    w1 = tl.load(w_ptr + d * s_w_d + s_w_k, mask=mask_d, other=0.0).to(tl.float32)
    w2 = tl.load(w_ptr + d * s_w_d + 2 * s_w_k, mask=mask_d, other=0.0).to(tl.float32)
    w3 = tl.load(w_ptr + d * s_w_d + 3 * s_w_k, mask=mask_d, other=0.0).to(tl.float32)
    zero = tl.zeros([BLOCK_D], dtype=tl.float32)
    bias = zero
    if HAS_BIAS:
        bias = tl.load(bias_ptr + d, mask=mask_d, other=0.0).to(tl.float32)
    # The 3 rows before the chunk (zero before the sequence start, as the forward pads).
    xa = tl.load(x_ptr + (c0 - 3) * s_x_l + d * s_x_d, mask=mask_d & (c0 >= 3), other=0.0).to(tl.float32)
    xb = tl.load(x_ptr + (c0 - 2) * s_x_l + d * s_x_d, mask=mask_d & (c0 >= 2), other=0.0).to(tl.float32)
    xc = tl.load(x_ptr + (c0 - 1) * s_x_l + d * s_x_d, mask=mask_d & (c0 >= 1), other=0.0).to(tl.float32)
    qa, qb, qc = pid_l * 0, pid_l * 0, pid_l * 0  # int32 placeholders carried through the loop
    if HAS_SEQ:
        qa = tl.load(seq_ptr + (c0 - 3) * s_s_l, mask=c0 >= 3, other=-1)
        qb = tl.load(seq_ptr + (c0 - 2) * s_s_l, mask=c0 >= 2, other=-1)
        qc = tl.load(seq_ptr + (c0 - 1) * s_s_l, mask=c0 >= 1, other=-1)
    aa, ab, ac = zero, zero, zero
    dw0, dw1, dw2, dw3, db = zero, zero, zero, zero, zero
    for s0 in range(c0, c0 + CHUNK, UNROLL):
        # Several steps per iteration so the loads of several rows are in flight together.
        for u in tl.static_range(UNROLL):
            xa, xb, xc, qa, qb, qc, aa, ab, ac, dw0, dw1, dw2, dw3, db = _bwd4_step(
                x_ptr, dout_ptr, dx_ptr, seq_ptr, s0 + u, c0, seqlen, d, mask_d, s_x_d, s_x_l, s_g_d, s_g_l, s_s_l,
                w0, w1, w2, w3, bias, xa, xb, xc, qa, qb, qc, aa, ab, ac, dw0, dw1, dw2, dw3, db,
                HAS_SEQ=HAS_SEQ, SILU=SILU, IN_CHUNK=True)
    for u in tl.static_range(3):
        xa, xb, xc, qa, qb, qc, aa, ab, ac, dw0, dw1, dw2, dw3, db = _bwd4_step(
            x_ptr, dout_ptr, dx_ptr, seq_ptr, c0 + CHUNK + u, c0, seqlen, d, mask_d, s_x_d, s_x_l, s_g_d, s_g_l,
            s_s_l, w0, w1, w2, w3, bias, xa, xb, xc, qa, qb, qc, aa, ab, ac, dw0, dw1, dw2, dw3, db,
            HAS_SEQ=HAS_SEQ, SILU=SILU, IN_CHUNK=False)
    part = pid_b * tl.num_programs(0) + pid_l
    dwp_ptr += part * 4 * dim + d
    tl.store(dwp_ptr, dw0, mask=mask_d)
    tl.store(dwp_ptr + dim, dw1, mask=mask_d)
    tl.store(dwp_ptr + 2 * dim, dw2, mask=mask_d)
    tl.store(dwp_ptr + 3 * dim, dw3, mask=mask_d)
    if HAS_BIAS:
        tl.store(dbp_ptr + part * dim + d, db, mask=mask_d)


def _tiles(dim: int):
    if interpreting():
        return 8, 8
    return 64, min(128, triton.next_power_of_2(dim))


def _bwd4_tiles(dim: int) -> dict:
    """CHUNK rows x BLOCK_D channels per program for the K = 4 backward."""
    if interpreting():
        # Small chunks and channel blocks so the kernel tests' tiny widths cross both; wider
        # (model) tests take all channels at once, as the interpreter pays per program and step.
        return {"CHUNK": 8, "BLOCK_D": 4 if dim <= 16 else triton.next_power_of_2(dim), "UNROLL": 2, "num_warps": 1}
    # Measured on an H200 at b=8, L=2048, D=5120 bf16: 0.26 ms (0.30 ms with seq_idx) against the
    # general kernel's 3.1 ms (3.8 ms) and the forward's 0.15 ms. 4 channels a thread (8-byte
    # loads), 2 rows a loop iteration, 96 registers (119 with seq_idx); 4 or 8 rows an iteration
    # or 8 channels a thread use more registers and lose occupancy (5-30% slower), chunks of 32
    # or 128+ rows are 10-25% slower.
    return {"CHUNK": 64, "BLOCK_D": min(256, triton.next_power_of_2(dim)), "UNROLL": 2, "num_warps": 2}


def check_seq_idx(seq_idx, batch: int, seqlen: int, who: str):
    """seq_idx must be (batch, seqlen) integers; returns it as int32 on the same device."""
    if seq_idx is None:
        return None
    if seq_idx.shape != (batch, seqlen) or seq_idx.dtype.is_floating_point or seq_idx.dtype == torch.bool:
        raise ValueError(f"{who}: seq_idx must be (batch, seqlen)={(batch, seqlen)} integers, "
                         f"got {tuple(seq_idx.shape)} {seq_idx.dtype}")
    return seq_idx.to(torch.int32)


def _check(x, weight, bias):
    if x.dim() != 3:
        raise ValueError(f"causal_conv1d: x must be (batch, dim, seqlen), got shape {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"causal_conv1d: weight must be (dim={x.shape[1]}, kernel), got {tuple(weight.shape)}")
    if bias is not None and bias.shape != (x.shape[1],):
        raise ValueError(f"causal_conv1d: bias must be (dim={x.shape[1]},), got {tuple(bias.shape)}")


def conv_forward(x, weight, bias, silu, seq_idx=None):
    b, dim, L = x.shape
    K = weight.shape[1]
    out = torch.empty(b, L, dim, dtype=x.dtype, device=x.device).transpose(1, 2)
    BL, BD = _tiles(dim)
    grid = (triton.cdiv(L, BL), triton.cdiv(dim, BD), b)
    seq = seq_idx if seq_idx is not None else x
    _conv_fwd_kernel[grid](
        x, weight, bias if bias is not None else weight, out, seq, dim, L,
        *x.stride(), *weight.stride(), *out.stride(), *(seq_idx.stride() if seq_idx is not None else (0, 0)),
        HAS_BIAS=bias is not None, SILU=silu, K=K, HAS_SEQ=seq_idx is not None, BLOCK_L=BL, BLOCK_D=BD,
    )
    return out


def conv_backward(dout, x, weight, bias, silu, seq_idx=None):
    b, dim, L = x.shape
    dx = torch.empty(b, L, dim, dtype=x.dtype, device=x.device).transpose(1, 2)
    if dout.stride() != dx.stride():
        dout = dout.transpose(1, 2).contiguous().transpose(1, 2)
    if weight.shape[1] == 4:
        dw, db = _backward_k4(dout, x, weight, bias, silu, seq_idx, dx)
    else:
        dw, db = _backward_general(dout, x, weight, bias, silu, seq_idx, dx)
    return dx, dw.to(weight.dtype), db.to(bias.dtype) if bias is not None else None


def _common_args(dout, x, weight, bias, seq_idx, dx):
    b, dim, L = x.shape
    return (x, weight, bias if bias is not None else weight, dout, dx), (
        seq_idx if seq_idx is not None else x, dim, L,
        *x.stride(), *weight.stride(), *dx.stride(), *(seq_idx.stride() if seq_idx is not None else (0, 0)))


def _backward_k4(dout, x, weight, bias, silu, seq_idx, dx):
    b, dim, L = x.shape
    cfg = _bwd4_tiles(dim)
    n_l = triton.cdiv(L, cfg["CHUNK"])
    dwp = torch.empty(b * n_l, 4, dim, dtype=torch.float32, device=x.device)
    dbp = torch.empty(b * n_l if bias is not None else 0, dim, dtype=torch.float32, device=x.device)
    head, tail = _common_args(dout, x, weight, bias, seq_idx, dx)
    _conv_bwd4_kernel[(n_l, triton.cdiv(dim, cfg["BLOCK_D"]), b)](
        *head, dwp, dbp, *tail, HAS_BIAS=bias is not None, SILU=silu, HAS_SEQ=seq_idx is not None, **cfg)
    return dwp.sum(0).t().contiguous(), dbp.sum(0)


def _backward_general(dout, x, weight, bias, silu, seq_idx, dx):
    b, dim, L = x.shape
    K = weight.shape[1]
    BL, BD = _tiles(dim)
    n_l = triton.cdiv(L, BL)
    dwp = torch.empty(b * n_l, dim, K, dtype=torch.float32, device=x.device)
    dbp = torch.empty(b * n_l, dim, dtype=torch.float32, device=x.device)
    head, tail = _common_args(dout, x, weight, bias, seq_idx, dx)
    _conv_bwd_kernel[(n_l, triton.cdiv(dim, BD), b)](
        *head, dwp, dbp, *tail,
        HAS_BIAS=bias is not None, SILU=silu, K=K, HAS_SEQ=seq_idx is not None, BLOCK_L=BL, BLOCK_D=BD,
    )
    return dwp.sum(0), dbp.sum(0)


class CausalConv1dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, silu, seq_idx):
        ctx.save_for_backward(x, weight, bias, seq_idx)
        ctx.silu = silu
        return conv_forward(x, weight, bias, silu, seq_idx)

    @staticmethod
    def backward(ctx, dout):
        x, weight, bias, seq_idx = ctx.saved_tensors
        dx, dw, db = conv_backward(dout, x, weight, bias, ctx.silu, seq_idx)
        return dx, dw, db, None, None


def causal_conv1d(x, weight, bias=None, silu=True, seq_idx=None):
    """x (b, D, L) any strides; weight (D, K); bias (D,). Returns (b, D, L) stored as (b, L, D).

    seq_idx (b, L) int (optional): document index per position; taps never cross a change of
    document, so a packed row gives each document the output it would get alone."""
    _check(x, weight, bias)
    seq_idx = check_seq_idx(seq_idx, x.shape[0], x.shape[2], "causal_conv1d")
    return CausalConv1dFn.apply(x, weight, bias, silu, seq_idx)
