"""Selective scan kernels, variant "v4" (the one in use; scan.py holds the autograd Function).

Semantics are transformers' `mamba_selective_scan` (and mamba_ssm's `selective_scan_fn`):

    dt_t  = softplus(delta_t + delta_bias)            (softplus optional)
    h_t   = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t (per channel d and state n, fp32)
    y_t   = sum_n h_t * C_t + D * u_t
    out_t = y_t * silu(z_t)

One program owns (batch b, DI*DL channels) and walks the sequence in chunks of CHUNK steps; inside
a chunk the recurrence is a first-order linear scan solved in registers (`tl.associative_scan`).
The forward can write the state entering every chunk (fp32 chunk checkpoints); the backward walks
the chunks in reverse, recomputes each chunk's states from its checkpoint and runs the adjoint
recurrence as a reverse scan. The full (b, D, L, N) state tensor never exists.

Why this layout (v3, one lane per (channel, state) pair, was deleted in round 4 once v4 was
faster at every measured shape): with one lane per pair the three reductions over the state axis
per step (y, dt-gradient, G.B) are 16-lane shuffle trees (~490 SHFL per backward chunk in sm_90
SASS), and the dB/dC partials per 2-channel block were 5.4 GB per call at the 2.8B shape.

Here the tile is 5-D, [CHUNK, DI, NI, DL, NL] with channel d = DL_index*DI + DI_index and state
n = NL_index*NI + NI_index. Triton's default layout puts the 32 lanes of the (single) warp on the
two fastest axes (DL x NL = 32) and keeps CHUNK x DI x NI in each thread, so:
  - the time scan is sequential FMAs in registers (no shuffles);
  - a reduction over states is NI in-thread adds + log2(NL) shuffles per DI channels;
  - a reduction over channels is DI in-thread adds + log2(DL) shuffles per NI states;
  - dB/dC are added atomically per DI*DL channels into one fp32 (b, L, N) each (per-block
    partials summed by the caller under torch's deterministic mode).
The reductions sum the in-thread axis first and never reshape a 5-D tile: a reshape made the
compiler give the forward part of the backward a second layout (time across lanes) and compute
it twice (KERNELS.md "Round 7").
CHUNK is small (4-8) to bound registers, so the checkpoints are large (b*L*D*N/CHUNK fp32 per
layer); scan.py therefore recomputes them in the backward unless told to keep them.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .scan_common import bl_d_view, bwd_buffers, bwd_results, doc_starts, first_order, seq_args, softplus


@triton.jit
def _sum_n(x):
    # [CHUNK, DI, NI, DL, NL] -> [CHUNK, DI, DL]: over the states, NI (in-thread) then NL (lanes).
    return tl.sum(tl.sum(x, axis=2), axis=3)


@triton.jit
def _sum_d(x):
    # [CHUNK, DI, NI, DL, NL] -> [CHUNK, NI, NL]: over the channels, DI (in-thread) then DL (lanes).
    return tl.sum(tl.sum(x, axis=1), axis=2)


@triton.jit
def _td(x):
    # [CHUNK, DI, DL] -> [CHUNK, DI, 1, DL, 1]
    return x[:, :, None, :, None]


@triton.jit
def _tn(x):
    # [CHUNK, NI, NL] -> [CHUNK, 1, NI, 1, NL]
    return x[:, None, :, None, :]


# Loads and stores use tensors of lower rank ([CHUNK, DI, DL] per channel, [CHUNK, NI, NL] per
# state, [DI, NI, DL, NL] per (channel, state)) that are broadcast into the 5-D tile: a 5-D
# load would let its coalesced layout (lanes along contiguous addresses) become the tile's.

@triton.jit
def _load_dt(dt_ptr, bias, d3, t3, mask_td, s_dt_d, s_dt_l, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    return _dt_of(tl.load(dt_ptr + t3 * s_dt_l + d3 * s_dt_d, mask=mask_td, other=0.0), bias, mask_td,
                  HAS_BIAS, SOFTPLUS)


@triton.jit
def _dt_of(loaded, bias, mask_td, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """(dt, raw) from the loaded time steps: raw = delta (+ bias), dt = softplus(raw) (masked to 0)."""
    raw = loaded.to(tl.float32)
    if HAS_BIAS:
        raw = raw + bias
    dt = raw
    if SOFTPLUS:
        dt = softplus(raw)
    return tl.where(mask_td, dt, 0.0), raw


@triton.jit
def _tile(pid_d, A_ptr, bias_ptr, dim, dstate, s_A_d, s_A_n,
          HAS_BIAS: tl.constexpr, DI: tl.constexpr, NI: tl.constexpr, DL: tl.constexpr, NL: tl.constexpr):
    """What every v4 kernel sets up for its d block: channel indices d2 [DI, DL] (d = DL_index*DI +
    DI_index), state indices n2 [NI, NL], their 4-D forms, the masks, A as a [1, DI, NI, DL, NL]
    fp32 tile and the time-step bias [1, DI, DL] (zeros without one)."""
    di = tl.arange(0, DI)
    dl = tl.arange(0, DL)
    ni = tl.arange(0, NI)
    nl = tl.arange(0, NL)
    d2 = pid_d * (DI * DL) + dl[None, :] * DI + di[:, None]          # [DI, DL]
    n2 = nl[None, :] * NI + ni[:, None]                              # [NI, NL]
    d4 = d2[:, None, :, None]                                        # [DI, 1, DL, 1]
    n4 = n2[None, :, None, :]                                        # [1, NI, 1, NL]
    mask_d2 = d2 < dim
    mask_n2 = n2 < dstate
    mask_dn = (d4 < dim) & (n4 < dstate)
    A = tl.load(A_ptr + d4 * s_A_d + n4 * s_A_n, mask=mask_dn, other=0.0).to(tl.float32)[None]
    bias = tl.zeros([1, DI, DL], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + d2, mask=mask_d2, other=0.0).to(tl.float32)[None, :, :]
    return d2, n2, d4, n4, mask_d2, mask_n2, mask_dn, A, bias


@triton.jit
def _chunk_loads(c, valid, t3, d2, n2, mask_d2, mask_n2, seqlen, u_ptr, dt_ptr, B_ptr, C_ptr, z_ptr,
                 s_u_d, s_u_l, s_dt_d, s_dt_l, s_B_n, s_B_l, s_C_n, s_C_l, s_z_d, s_z_l,
                 LOAD_Z: tl.constexpr, CHUNK: tl.constexpr):
    """Chunk c's inputs as loaded, all masked unless `valid` (a chunk outside the program's
    segment, the one after its last or before its first): u, delta, B, C and z ([CHUNK, ...]
    tiles; z is u without LOAD_Z). Both kernels call it one chunk ahead of their arithmetic."""
    t = c * CHUNK + t3
    mask_t = (t < seqlen) & valid
    mask_td = mask_t & mask_d2[None, :, :]
    mask_tn = mask_t & mask_n2[None, :, :]
    d3 = d2[None, :, :]
    u = tl.load(u_ptr + t * s_u_l + d3 * s_u_d, mask=mask_td, other=0.0)
    dt = tl.load(dt_ptr + t * s_dt_l + d3 * s_dt_d, mask=mask_td, other=0.0)
    Bt = tl.load(B_ptr + t * s_B_l + n2[None, :, :] * s_B_n, mask=mask_tn, other=0.0)
    Ct = tl.load(C_ptr + t * s_C_l + n2[None, :, :] * s_C_n, mask=mask_tn, other=0.0)
    z = u
    if LOAD_Z:
        z = tl.load(z_ptr + t * s_z_l + d3 * s_z_d, mask=mask_td, other=0.0)
    return u, dt, Bt, Ct, z


@triton.jit
def _fwd_v4_kernel(
    u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, h0_ptr, seq_ptr,
    out_ptr, ckpt_ptr, last_ptr, decay_ptr,
    dim, dstate, seqlen, n_chunks, seg_chunks,
    s_s_b, s_s_l,
    s_u_b, s_u_d, s_u_l,
    s_dt_b, s_dt_d, s_dt_l,
    s_A_d, s_A_n,
    s_B_b, s_B_n, s_B_l,
    s_C_b, s_C_n, s_C_l,
    s_z_b, s_z_d, s_z_l,
    s_o_b, s_o_d, s_o_l,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    HAS_H0: tl.constexpr, STORE_CKPT: tl.constexpr, STORE_LAST: tl.constexpr, HAS_SEQ: tl.constexpr,
    STORE_OUT: tl.constexpr, STORE_DECAY: tl.constexpr,
    CHUNK: tl.constexpr, DI: tl.constexpr, NI: tl.constexpr, DL: tl.constexpr, NL: tl.constexpr,
):
    """Program (d block, batch row, segment): the segment's chunks [s*seg_chunks, ...) from the
    state h0[s, b] (zero without HAS_H0); `last` and `decay` are per (s, b) too: the state after
    the segment and the product of its decays, which the split scan combines (scan_forward)."""
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    pid_s = tl.program_id(2)
    c_begin = pid_s * seg_chunks
    c_end = tl.minimum(c_begin + seg_chunks, n_chunks)
    t1 = tl.arange(0, CHUNK)
    d2, n2, d4, n4, mask_d2, mask_n2, mask_dn, A, bias = _tile(pid_d, A_ptr, bias_ptr, dim, dstate, s_A_d, s_A_n,
                                                               HAS_BIAS, DI, NI, DL, NL)
    t3 = t1[:, None, None]
    Dv = tl.zeros([1, DI, DL], dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + d2, mask=mask_d2, other=0.0).to(tl.float32)[None, :, :]

    state_offs = d4 * dstate + n4
    seg_offs = (pid_s * tl.num_programs(1) + pid_b) * dim * dstate + state_offs
    h = tl.zeros([1, DI, NI, DL, NL], dtype=tl.float32)  # 5-D: keeps the tile's layout across chunks
    if HAS_H0:
        h = tl.load(h0_ptr + seg_offs, mask=mask_dn, other=0.0).to(tl.float32)[None]
    decay = tl.full([1, DI, NI, DL, NL], 1.0, dtype=tl.float32)

    u_ptr += pid_b * s_u_b
    dt_ptr += pid_b * s_dt_b
    B_ptr += pid_b * s_B_b
    C_ptr += pid_b * s_C_b
    z_ptr += pid_b * s_z_b
    out_ptr += pid_b * s_o_b
    seq_ptr += pid_b * s_s_b
    ckpt_ptr += pid_b * n_chunks * dim * dstate

    # As in the backward, the next chunk's loads are issued before this chunk's arithmetic.
    nu, ndt, nB, nC, nz = _chunk_loads(c_begin, c_begin < c_end, t3, d2, n2, mask_d2, mask_n2, seqlen, u_ptr, dt_ptr,
                                       B_ptr, C_ptr, z_ptr, s_u_d, s_u_l, s_dt_d, s_dt_l, s_B_n, s_B_l, s_C_n, s_C_l,
                                       s_z_d, s_z_l, HAS_Z and STORE_OUT, CHUNK)
    for c in range(c_begin, c_end):
        if STORE_CKPT:
            tl.store(ckpt_ptr + c * dim * dstate + state_offs, h.reshape(DI, NI, DL, NL), mask=mask_dn)
        t = c * CHUNK + t3                                           # [CHUNK, 1, 1]
        mask_td = (t < seqlen) & mask_d2[None, :, :]
        lu, ldt, lB, lC, lz = nu, ndt, nB, nC, nz
        nu, ndt, nB, nC, nz = _chunk_loads(c + 1, c + 1 < c_end, t3, d2, n2, mask_d2, mask_n2, seqlen, u_ptr, dt_ptr,
                                           B_ptr, C_ptr, z_ptr, s_u_d, s_u_l, s_dt_d, s_dt_l, s_B_n, s_B_l, s_C_n,
                                           s_C_l, s_z_d, s_z_l, HAS_Z and STORE_OUT, CHUNK)
        u = lu.to(tl.float32)
        dt, _raw = _dt_of(ldt, bias, mask_td, HAS_BIAS, SOFTPLUS)
        Bt = lB.to(tl.float32)
        Ct = lC.to(tl.float32)

        # exp(dt*A) = exp2((dt*log2 e)*A): the log2(e) scale goes on the [CHUNK, channel] tile.
        a = tl.exp2(_td(dt * 1.4426950408889634) * A)
        if HAS_SEQ:
            a = tl.where(doc_starts(seq_ptr, c * CHUNK + t1, seqlen, s_s_l)[:, None, None, None, None], 0.0, a)
        acum, hs = tl.associative_scan((a, _td(dt * u) * _tn(Bt)), 0, first_order)
        hs = hs + acum * h
        # Masked steps have a=1, bx=0, so the last row is the state after the last real step.
        h = tl.sum(tl.where(t1[:, None, None, None, None] == CHUNK - 1, hs, 0.0), axis=0, keep_dims=True)
        if STORE_DECAY:
            decay *= tl.sum(tl.where(t1[:, None, None, None, None] == CHUNK - 1, acum, 0.0), axis=0, keep_dims=True)

        if STORE_OUT:  # off when the backward only recomputes the chunk checkpoints
            y = _sum_n(hs * _tn(Ct))
            if HAS_D:
                y += u * Dv
            if HAS_Z:
                z = lz.to(tl.float32)
                y = y * z * tl.sigmoid(z)
            tl.store(out_ptr + t * s_o_l + d2[None, :, :] * s_o_d, y.to(out_ptr.dtype.element_ty), mask=mask_td)

    if STORE_LAST:
        tl.store(last_ptr + seg_offs, h.reshape(DI, NI, DL, NL), mask=mask_dn)
    if STORE_DECAY:
        tl.store(decay_ptr + seg_offs, decay.reshape(DI, NI, DL, NL), mask=mask_dn)


@triton.jit
def _bwd_loads(c, c_begin, t3, d2, n2, mask_d2, mask_n2, state_offs, mask_dn, seqlen, dim, dstate,
               u_ptr, dt_ptr, B_ptr, C_ptr, z_ptr, dout_ptr, ckpt_ptr, s_u_d, s_u_l, s_dt_d, s_dt_l, s_B_n, s_B_l,
               s_C_n, s_C_l, s_z_d, s_z_l, s_g_d, s_g_l, HAS_Z: tl.constexpr, CHUNK: tl.constexpr):
    """_chunk_loads for the backward (nothing for c < c_begin), plus delta one step later, dout and
    the chunk's checkpoint."""
    valid = c >= c_begin
    u, dt, Bt, Ct, z = _chunk_loads(c, valid, t3, d2, n2, mask_d2, mask_n2, seqlen, u_ptr, dt_ptr, B_ptr, C_ptr,
                                    z_ptr, s_u_d, s_u_l, s_dt_d, s_dt_l, s_B_n, s_B_l, s_C_n, s_C_l, s_z_d, s_z_l,
                                    HAS_Z, CHUNK)
    t = c * CHUNK + t3
    mask_td = (t < seqlen) & valid & mask_d2[None, :, :]
    d3 = d2[None, :, :]
    dtn = tl.load(dt_ptr + (t + 1) * s_dt_l + d3 * s_dt_d, mask=(t + 1 < seqlen) & mask_td, other=0.0)
    dout = tl.load(dout_ptr + t * s_g_l + d3 * s_g_d, mask=mask_td, other=0.0)
    h0 = tl.load(ckpt_ptr + c * dim * dstate + state_offs, mask=mask_dn & valid, other=0.0)
    return u, dt, dtn, Bt, Ct, dout, z, h0


@triton.jit
def _add_dbc(ptr, part, mask, ATOMIC: tl.constexpr):
    """A channel block's dB or dC sums [CHUNK, NI, NL]: added into the shared (b, L, N) fp32 with
    ATOMIC, else stored as the block's partial."""
    if ATOMIC:
        tl.atomic_add(ptr, part, mask=mask, sem="relaxed")
    else:
        tl.store(ptr, part, mask=mask)


@triton.jit
def _bwd_v4_kernel(
    u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, ckpt_ptr, dout_ptr, seq_ptr,
    du_ptr, ddt_ptr, dz_ptr, dA_ptr, dBp_ptr, dCp_ptr, dDp_ptr, dbiasp_ptr, g0_ptr,
    dim, dstate, seqlen, n_chunks, seg_chunks,
    s_s_b, s_s_l,
    s_u_b, s_u_d, s_u_l,
    s_dt_b, s_dt_d, s_dt_l,
    s_A_d, s_A_n,
    s_B_b, s_B_n, s_B_l,
    s_C_b, s_C_n, s_C_l,
    s_z_b, s_z_d, s_z_l,
    s_g_b, s_g_d, s_g_l,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    HAS_SEQ: tl.constexpr, HAS_G0: tl.constexpr, DBC_ATOMIC: tl.constexpr,
    CHUNK: tl.constexpr, DI: tl.constexpr, NI: tl.constexpr, DL: tl.constexpr, NL: tl.constexpr,
):
    """Gradients. dB and dC are written per channel block ([b, n_dblocks, L, N], summed by the
    caller) or, with DBC_ATOMIC, added atomically into one fp32 [b, 1, L, N] each; dA, dD and
    dbias per (segment, batch row), also summed by the caller, so the result is deterministic
    without DBC_ATOMIC. Program (d block, batch row, segment s) walks the segment's
    chunks backwards; the adjoint entering from later segments is g0[s, b] (HAS_G0; from
    _bwd_carry_v4_kernel), zero for the last."""
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    pid_s = tl.program_id(2)
    n_dblocks = tl.num_programs(0)
    c_begin = pid_s * seg_chunks
    c_end = tl.minimum(c_begin + seg_chunks, n_chunks)
    t1 = tl.arange(0, CHUNK)
    d2, n2, d4, n4, mask_d2, mask_n2, mask_dn, A, bias = _tile(pid_d, A_ptr, bias_ptr, dim, dstate, s_A_d, s_A_n,
                                                               HAS_BIAS, DI, NI, DL, NL)
    t3 = t1[:, None, None]
    t5 = t1[:, None, None, None, None]
    Dv = tl.zeros([1, DI, DL], dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + d2, mask=mask_d2, other=0.0).to(tl.float32)[None, :, :]

    state_offs = d4 * dstate + n4
    u_ptr += pid_b * s_u_b
    dt_ptr += pid_b * s_dt_b
    B_ptr += pid_b * s_B_b
    C_ptr += pid_b * s_C_b
    z_ptr += pid_b * s_z_b
    dout_ptr += pid_b * s_g_b
    du_ptr += pid_b * s_g_b
    ddt_ptr += pid_b * s_g_b
    dz_ptr += pid_b * s_g_b
    seq_ptr += pid_b * s_s_b
    ckpt_ptr += pid_b * n_chunks * dim * dstate
    part = pid_b * dstate * seqlen if DBC_ATOMIC else (pid_b * n_dblocks + pid_d) * dstate * seqlen
    dBp_ptr += part
    dCp_ptr += part

    seg_offs = (pid_s * tl.num_programs(1) + pid_b) * dim * dstate + state_offs
    # Loop-carried per-(channel, state) tensors stay 5-D so they keep the tile's layout.
    g_carry = tl.zeros([1, DI, NI, DL, NL], dtype=tl.float32)  # G at the first step of the later chunk
    if HAS_G0:
        g_carry = tl.load(g0_ptr + seg_offs, mask=mask_dn, other=0.0)[None]
    dA_acc = tl.zeros([1, DI, NI, DL, NL], dtype=tl.float32)
    dD_acc = tl.zeros([DI, DL], dtype=tl.float32)
    dbias_acc = tl.zeros([DI, DL], dtype=tl.float32)

    # Each iteration issues the next (earlier) chunk's loads before its own arithmetic, so their
    # latency hides behind it instead of stalling the warp at the top of the loop (the backward
    # 3.54 vs 3.82 ms a layer at b4 on an H200, KERNELS.md "Round 7").
    nu, ndt, ndtn, nB, nC, ndout, nz, nh0 = _bwd_loads(
        c_end - 1, c_begin, t3, d2, n2, mask_d2, mask_n2, state_offs, mask_dn, seqlen, dim, dstate,
        u_ptr, dt_ptr, B_ptr, C_ptr, z_ptr, dout_ptr, ckpt_ptr, s_u_d, s_u_l, s_dt_d, s_dt_l, s_B_n, s_B_l,
        s_C_n, s_C_l, s_z_d, s_z_l, s_g_d, s_g_l, HAS_Z, CHUNK)
    for cc in range(0, c_end - c_begin):
        c = c_end - 1 - cc
        t = c * CHUNK + t3
        mask_t = t < seqlen
        mask_td = mask_t & mask_d2[None, :, :]
        mask_tn = mask_t & mask_n2[None, :, :]
        g_offs = t * s_g_l + d2[None, :, :] * s_g_d
        tn_offs = t * dstate + n2[None, :, :]

        lu, ldt, ldtn, lB, lC, ldout, lz, h0 = nu, ndt, ndtn, nB, nC, ndout, nz, nh0
        nu, ndt, ndtn, nB, nC, ndout, nz, nh0 = _bwd_loads(
            c - 1, c_begin, t3, d2, n2, mask_d2, mask_n2, state_offs, mask_dn, seqlen, dim, dstate,
            u_ptr, dt_ptr, B_ptr, C_ptr, z_ptr, dout_ptr, ckpt_ptr, s_u_d, s_u_l, s_dt_d, s_dt_l, s_B_n, s_B_l,
            s_C_n, s_C_l, s_z_d, s_z_l, s_g_d, s_g_l, HAS_Z, CHUNK)
        u = lu.to(tl.float32)
        dt, raw = _dt_of(ldt, bias, mask_td, HAS_BIAS, SOFTPLUS)
        dt_next, _raw_next = _dt_of(ldtn, bias, (t + 1 < seqlen) & mask_d2[None, :, :], HAS_BIAS, SOFTPLUS)
        Bt = _tn(lB.to(tl.float32))
        Ct = _tn(lC.to(tl.float32))
        dout = ldout.to(tl.float32)
        h0 = h0[None]
        a = tl.exp2(_td(dt * 1.4426950408889634) * A)
        if HAS_SEQ:
            a = tl.where(doc_starts(seq_ptr, c * CHUNK + t1, seqlen, s_s_l)[:, None, None, None, None], 0.0, a)
        dtu = dt * u
        bx = _td(dtu) * Bt
        acum, hs = tl.associative_scan((a, bx), 0, first_order)
        hs = hs + acum * h0

        dy = dout
        if HAS_Z:
            z = lz.to(tl.float32)
            y = _sum_n(hs * Ct)
            if HAS_D:
                y += u * Dv
            sz = tl.sigmoid(z)
            dz = dout * y * sz * (1.0 + z * (1.0 - sz))
            tl.store(dz_ptr + g_offs, dz.to(dz_ptr.dtype.element_ty), mask=mask_td)
            dy = dout * z * sz
        du = tl.zeros([CHUNK, DI, DL], dtype=tl.float32)
        if HAS_D:
            du = dy * Dv
            dD_acc += tl.sum(dy * u, axis=0)

        _add_dbc(dCp_ptr + tn_offs, _sum_d(hs * _td(dy)), mask_tn, DBC_ATOMIC)
        # a_t * h_{t-1} = h_t - bx_t: the state before each step without a shifted tile.
        h_prev = hs - bx

        a_next = tl.exp2(_td(dt_next * 1.4426950408889634) * A)
        if HAS_SEQ:
            a_next = tl.where(doc_starts(seq_ptr, c * CHUNK + t1 + 1, seqlen, s_s_l)[:, None, None, None, None],
                              0.0, a_next)
        # Adjoint G_t = a_{t+1} G_{t+1} + C_t dy_t as a reverse scan; the later chunk's first G
        # enters at the last step through a_next (so `a` is dead after the forward scan).
        cin = Ct * _td(dy) + tl.where(t5 == CHUNK - 1, a_next * g_carry, 0.0)
        _acc, G = tl.associative_scan((a_next, cin), 0, first_order, reverse=True)
        g_carry = tl.sum(tl.where(t5 == 0, G, 0.0), axis=0, keep_dims=True)

        Gdh = G * h_prev
        GB = _sum_n(G * Bt)
        ddt = _sum_n(Gdh * A) + GB * u
        du += GB * dt
        dA_acc += tl.sum(Gdh * _td(dt), axis=0, keep_dims=True)
        _add_dbc(dBp_ptr + tn_offs, _sum_d(G * _td(dtu)), mask_tn, DBC_ATOMIC)

        if SOFTPLUS:
            ddt = tl.where(raw > 20.0, ddt, ddt * tl.sigmoid(raw))
        ddt = tl.where(mask_td, ddt, 0.0)
        dbias_acc += tl.sum(ddt, axis=0)
        tl.store(ddt_ptr + g_offs, ddt.to(ddt_ptr.dtype.element_ty), mask=mask_td)
        tl.store(du_ptr + g_offs, du.to(du_ptr.dtype.element_ty), mask=mask_td)

    tl.store(dA_ptr + seg_offs, dA_acc.reshape(DI, NI, DL, NL), mask=mask_dn)
    row = pid_s * tl.num_programs(1) + pid_b
    if HAS_D:
        tl.store(dDp_ptr + row * dim + d2, dD_acc, mask=mask_d2)
    if HAS_BIAS:
        tl.store(dbiasp_ptr + row * dim + d2, dbias_acc, mask=mask_d2)


@triton.jit
def _bwd_carry_v4_kernel(
    dt_ptr, A_ptr, C_ptr, z_ptr, bias_ptr, dout_ptr, seq_ptr, gloc_ptr, decay_ptr,
    dim, dstate, seqlen, n_chunks, seg_chunks,
    s_s_b, s_s_l,
    s_dt_b, s_dt_d, s_dt_l,
    s_A_d, s_A_n,
    s_C_b, s_C_n, s_C_l,
    s_z_b, s_z_d, s_z_l,
    s_g_b, s_g_d, s_g_l,
    HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, HAS_SEQ: tl.constexpr,
    CHUNK: tl.constexpr, DI: tl.constexpr, NI: tl.constexpr, DL: tl.constexpr, NL: tl.constexpr,
):
    """First pass of the time-split backward: per segment, the adjoint G at its first step with
    nothing entering from later segments (gloc), and the product of the decays that carry G across
    it (decay): G_first = decay * G_entering + gloc. Only dt, C, dout (and z) are read."""
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    pid_s = tl.program_id(2)
    c_begin = pid_s * seg_chunks
    c_end = tl.minimum(c_begin + seg_chunks, n_chunks)
    t1 = tl.arange(0, CHUNK)
    d2, n2, d4, n4, mask_d2, mask_n2, mask_dn, A, bias = _tile(pid_d, A_ptr, bias_ptr, dim, dstate, s_A_d, s_A_n,
                                                               HAS_BIAS, DI, NI, DL, NL)
    t3 = t1[:, None, None]
    t5 = t1[:, None, None, None, None]
    dt_ptr += pid_b * s_dt_b
    C_ptr += pid_b * s_C_b
    z_ptr += pid_b * s_z_b
    dout_ptr += pid_b * s_g_b
    seq_ptr += pid_b * s_s_b

    g_carry = tl.zeros([1, DI, NI, DL, NL], dtype=tl.float32)
    decay = tl.full([1, DI, NI, DL, NL], 1.0, dtype=tl.float32)
    for cc in range(0, c_end - c_begin):
        c = c_end - 1 - cc
        t = c * CHUNK + t3
        mask_t = t < seqlen
        mask_td = mask_t & mask_d2[None, :, :]
        mask_tn = mask_t & mask_n2[None, :, :]
        dt_next, _raw_next = _load_dt(dt_ptr, bias, d2[None, :, :], t + 1, (t + 1 < seqlen) & mask_d2[None, :, :],
                                      s_dt_d, s_dt_l, HAS_BIAS, SOFTPLUS)
        Ct = _tn(tl.load(C_ptr + t * s_C_l + n2[None, :, :] * s_C_n, mask=mask_tn, other=0.0).to(tl.float32))
        dy = tl.load(dout_ptr + t * s_g_l + d2[None, :, :] * s_g_d, mask=mask_td, other=0.0).to(tl.float32)
        if HAS_Z:
            z = tl.load(z_ptr + t * s_z_l + d2[None, :, :] * s_z_d, mask=mask_td, other=0.0).to(tl.float32)
            dy = dy * z * tl.sigmoid(z)
        a_next = tl.exp2(_td(dt_next * 1.4426950408889634) * A)
        if HAS_SEQ:
            a_next = tl.where(doc_starts(seq_ptr, c * CHUNK + t1 + 1, seqlen, s_s_l)[:, None, None, None, None],
                              0.0, a_next)
        cin = Ct * _td(dy) + tl.where(t5 == CHUNK - 1, a_next * g_carry, 0.0)
        acc, G = tl.associative_scan((a_next, cin), 0, first_order, reverse=True)
        g_carry = tl.sum(tl.where(t5 == 0, G, 0.0), axis=0, keep_dims=True)
        decay *= tl.sum(tl.where(t5 == 0, acc, 0.0), axis=0, keep_dims=True)

    seg_offs = (pid_s * tl.num_programs(1) + pid_b) * dim * dstate + d4 * dstate + n4
    tl.store(gloc_ptr + seg_offs, g_carry.reshape(DI, NI, DL, NL), mask=mask_dn)
    tl.store(decay_ptr + seg_offs, decay.reshape(DI, NI, DL, NL), mask=mask_dn)


def tile(cfg: dict, dstate: int, backward: bool = False) -> dict:
    """Resolve {CHUNK, DI, NI[, bwd_DI, bwd_NI, num_warps]} to the kernel's constexprs for this
    d_state. Only CHUNK must agree between the passes (it sets the checkpoint interval); the
    backward, with ~3x the live values per update, may use a thinner tile (bwd_DI, bwd_NI)."""
    block_n = triton.next_power_of_2(dstate)
    di = cfg.get("bwd_DI", cfg["DI"]) if backward else cfg["DI"]
    ni = min(cfg.get("bwd_NI", cfg["NI"]) if backward else cfg["NI"], block_n)
    nl = block_n // ni
    lanes = cfg.get("lanes", 32 * cfg.get("num_warps", 1))  # "lanes" < 32 only for the CPU interpreter
    if nl > lanes:
        raise ValueError(f"scan v4: NI={ni} leaves {nl} state lanes > {lanes} threads; raise NI")
    return {"CHUNK": cfg["CHUNK"], "DI": di, "NI": ni, "DL": lanes // nl, "NL": nl,
            "num_warps": cfg.get("num_warps", 1)}


def chain_segments(local: torch.Tensor, decay: torch.Tensor, first: torch.Tensor | None, reverse: bool = False):
    """Join per-segment results of a time-split scan, (S, b, D, N) fp32 each: segment s maps the
    value entering it to decay[s] * entering + local[s]. Returns (the value entering every segment,
    the value leaving the last), in time order (reverse: the backward's adjoint, which enters from
    the later segment). `first` enters the first segment (None: zero)."""
    order = range(local.shape[0] - 1, -1, -1) if reverse else range(local.shape[0])
    entry = torch.empty_like(local)
    cur = first if first is not None else torch.zeros_like(local[0])
    for s in order:
        entry[s].copy_(cur)
        cur = torch.addcmul(local[s], decay[s], cur)
    return entry, cur


def chunk_count(u: torch.Tensor, A: torch.Tensor, config: dict | None = None) -> int:
    """How many chunk checkpoints a forward of u (b, D, L) with A (D, N) writes under `config`
    (None: the first of _launch.scan_configs, as scan_forward takes it)."""
    from ._launch import scan_configs

    cfg = config or scan_configs(triton.next_power_of_2(A.shape[1]), u.shape[2])[0]
    return triton.cdiv(u.shape[2], cfg["CHUNK"])


def _fwd_launch(u, delta, A, B, C, D, z, delta_bias, delta_softplus, k, seq_idx, n_chunks, segs, seg_chunks,
                h0=None, out=None, ckpt=None, last=None, decay=None):
    dummy = u
    zz = z if z is not None else u
    seq, seq_strides = seq_args(seq_idx, dummy)
    b, dim, L = u.shape
    _fwd_v4_kernel[(triton.cdiv(dim, k["DI"] * k["DL"]), b, segs)](
        u, delta, A, B, C, D if D is not None else dummy, zz, delta_bias if delta_bias is not None else dummy,
        h0 if h0 is not None else dummy, seq,
        out if out is not None else dummy, ckpt if ckpt is not None else dummy, last if last is not None else dummy,
        decay if decay is not None else dummy,
        dim, A.shape[1], L, n_chunks, seg_chunks,
        *seq_strides, *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *zz.stride(),
        *(out if out is not None else dummy).stride(),
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        HAS_H0=h0 is not None, STORE_CKPT=ckpt is not None, STORE_LAST=last is not None, HAS_SEQ=seq_idx is not None,
        STORE_OUT=out is not None, STORE_DECAY=decay is not None,
        CHUNK=k["CHUNK"], DI=k["DI"], NI=k["NI"], DL=k["DL"], NL=k["NL"], num_warps=k["num_warps"],
    )


def scan_forward(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                 h0=None, store_ckpt=False, store_last=False, config=None, seq_idx=None, store_out=True):
    """Launch the forward. Returns (out (b, D, L) in u's dtype or None without `store_out`,
    chunk checkpoints (b, n_chunks, D, N) fp32 or None, last state (b, D, N) fp32 or None).
    `config` is as for tile(). When _launch.scan_segments splits the sequence (too few programs
    to fill the card otherwise), a first pass scans every segment from zero for its end state and
    decay product, chain_segments joins them, and a second pass runs each segment from its true
    entering state: twice the arithmetic, S times the parallelism."""
    from ._launch import scan_configs, scan_segments

    b, dim, L = u.shape
    n = A.shape[1]
    cfg = config or scan_configs(triton.next_power_of_2(n), L)[0]
    k = tile(cfg, n)
    n_chunks = chunk_count(u, A, cfg)
    segs, seg_chunks = scan_segments(cfg, n_chunks, b * triton.cdiv(dim, k["DI"] * k["DL"]), backward=False)
    out = bl_d_view(b, dim, L, u.dtype, u.device) if store_out else None
    ckpt = torch.empty(b, n_chunks, dim, n, dtype=torch.float32, device=u.device) if store_ckpt else None
    f32 = {"dtype": torch.float32, "device": u.device}
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, k, seq_idx, n_chunks)
    h0 = h0.contiguous() if h0 is not None else None
    last = None
    if segs == 1:
        last = torch.empty(b, dim, n, **f32) if store_last else None
        _fwd_launch(*args, 1, seg_chunks, h0=h0, out=out, ckpt=ckpt, last=last)
        return out, ckpt, last
    local, decay = torch.empty(segs, b, dim, n, **f32), torch.empty(segs, b, dim, n, **f32)
    _fwd_launch(*args, segs, seg_chunks, last=local, decay=decay)
    entry, last = chain_segments(local, decay, h0)
    if out is not None or ckpt is not None:
        _fwd_launch(*args, segs, seg_chunks, h0=entry, out=out, ckpt=ckpt)
    return out, ckpt, last if store_last else None


def scan_backward(dout, u, delta, A, B, C, D, z, delta_bias, delta_softplus, ckpt, config=None, seq_idx=None):
    """Gradients of (u, delta, A, B, C, D, z, delta_bias). `ckpt` None: the chunk checkpoints are
    recomputed first (a forward pass without its output), held only during this call. Split in
    time like the forward when _launch.scan_segments says so: _bwd_carry_v4_kernel gives each
    segment's adjoint from zero and its decay, chain_segments joins them backwards, and the main
    kernel runs every segment from its true entering adjoint."""
    from ._launch import scan_configs, scan_segments

    b, dim, L = u.shape
    n = A.shape[1]
    config = config or scan_configs(triton.next_power_of_2(n), L)[0]
    if ckpt is None:
        _, ckpt, _ = scan_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, store_ckpt=True,
                                  config=config, seq_idx=seq_idx, store_out=False)
    k = tile(config, n, backward=True)
    n_chunks = ckpt.shape[1]
    if triton.cdiv(L, k["CHUNK"]) != n_chunks:
        raise RuntimeError("selective_scan: backward chunking differs from the forward's checkpoints")
    n_dblocks = triton.cdiv(dim, k["DI"] * k["DL"])
    segs, seg_chunks = scan_segments(config, n_chunks, b * n_dblocks, backward=True)
    # dB, dC: atomic adds into one (b, L, N) each (the backward 3.37 vs 3.54 ms a layer at b4 on an
    # H200: no (b, D/block, L, N) partials to write and sum), unless torch is asked for
    # deterministic algorithms (the order of fp32 atomic adds varies from run to run).
    atomic = bool(config.get("dBC_atomic", not torch.are_deterministic_algorithms_enabled()))
    dout, du, ddt, dz, dA, dBp, dCp, dDp, dbiasp = bwd_buffers(dout, u, delta, z, n, n_dblocks, segs, atomic)
    dummy = u
    zz = z if z is not None else u
    seq, seq_strides = seq_args(seq_idx, dummy)
    consts = dict(HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
                  HAS_SEQ=seq_idx is not None, CHUNK=k["CHUNK"], DI=k["DI"], NI=k["NI"], DL=k["DL"], NL=k["NL"],
                  num_warps=k["num_warps"])
    g0 = None
    if segs > 1:
        f32 = {"dtype": torch.float32, "device": u.device}
        gloc, decay = torch.empty(segs, b, dim, n, **f32), torch.empty(segs, b, dim, n, **f32)
        _bwd_carry_v4_kernel[(n_dblocks, b, segs)](
            delta, A, C, zz, delta_bias if delta_bias is not None else dummy, dout, seq, gloc, decay,
            dim, n, L, n_chunks, seg_chunks,
            *seq_strides, *delta.stride(), *A.stride(), *C.stride(), *zz.stride(), *du.stride(), **consts,
        )
        g0, _ = chain_segments(gloc, decay, None, reverse=True)
    _bwd_v4_kernel[(n_dblocks, b, segs)](
        u, delta, A, B, C, D if D is not None else dummy, zz, delta_bias if delta_bias is not None else dummy,
        ckpt, dout, seq, du, ddt, dz, dA, dBp, dCp, dDp, dbiasp, g0 if g0 is not None else dummy,
        dim, n, L, n_chunks, seg_chunks,
        *seq_strides, *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *zz.stride(),
        *du.stride(),
        HAS_D=D is not None, HAS_G0=g0 is not None, DBC_ATOMIC=atomic, **consts,
    )
    return bwd_results(du, ddt, dz, dA, dBp, dCp, dDp, dbiasp, A, B, C, D, z, delta_bias)
