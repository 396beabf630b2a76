"""Selective scan (Mamba-1) in Triton: forward, backward, and the autograd Function.

Semantics are transformers' `mamba_selective_scan` (and mamba_ssm's `selective_scan_fn`):

    dt_t  = softplus(delta_t + delta_bias)            (softplus optional)
    h_t   = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t (per channel d and state n, fp32)
    y_t   = sum_n h_t * C_t + D * u_t
    out_t = y_t * silu(z_t)

Layout: one program owns (batch b, BLOCK_D channels) and walks the sequence in chunks of CHUNK
steps. Inside a chunk the recurrence is a first-order linear scan, solved in registers by
`tl.associative_scan` over a time-major [CHUNK, BLOCK_D, BLOCK_N] tile; the state carries across chunks.
The forward writes the state entering every chunk (fp32, [b, n_chunks, D, N]) when a gradient
is needed; the backward walks the chunks in reverse, recomputes the chunk's states from that
checkpoint and runs the adjoint recurrence as a reverse associative scan. The full
(b, D, L, N) state tensor never exists.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._launch import interpreting, scan_configs

LOG2E = 1.4426950408889634


@triton.jit
def _first_order(a1, b1, a2, b2):
    # Composition of h -> a1*h + b1 then h -> a2*h + b2 (forward); in a reverse scan the
    # accumulated later part comes first, giving G_t = a_t * G_{t+1} + b_t.
    return a1 * a2, b1 * a2 + b2


@triton.jit
def _softplus(x):
    # Matches torch.nn.functional.softplus (threshold 20) without losing tiny values.
    return tl.where(x > 20.0, x, tl.where(x < -15.0, tl.exp(x), tl.log(1.0 + tl.exp(x))))


@triton.jit
def _load_dt(dt_ptr, bias, offs_d, t, mask_d, seqlen, s_dt_d, s_dt_l,
             HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Returns (dt after bias and softplus, pre-activation) for a [CHUNK, BLOCK_D] tile; 0 outside."""
    mask = (t < seqlen)[:, None] & mask_d[None, :]
    raw = tl.load(dt_ptr + t[:, None] * s_dt_l + offs_d[None, :] * s_dt_d, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        raw = raw + bias[None, :]
    dt = raw
    if SOFTPLUS:
        dt = _softplus(raw)
    return tl.where(mask, dt, 0.0), raw


@triton.jit
def _doc_starts(seq_ptr, t, seqlen, s_s_l):
    """True at steps that begin a new document (seq_idx differs from the step before): the
    state entering them is dropped, i.e. their decay a_t is taken as 0."""
    ok = (t > 0) & (t < seqlen)
    cur = tl.load(seq_ptr + t * s_s_l, mask=ok, other=0)
    prev = tl.load(seq_ptr + (t - 1) * s_s_l, mask=ok, other=0)
    return ok & (cur != prev)


# Tiles are time-major, [CHUNK, BLOCK_D, BLOCK_N]: the compiler spreads lanes and warps over the
# (channel, state) axes and leaves the time axis inside each thread, so the scans along time are
# plain sequential FMAs in registers (no shuffles).

@triton.jit
def _scan_fwd_kernel(
    # pointers
    u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, h0_ptr, seq_ptr,
    out_ptr, ckpt_ptr, last_ptr,
    # sizes
    dim, dstate, seqlen, n_chunks,
    # strides
    s_s_b, s_s_l,
    s_u_b, s_u_d, s_u_l,
    s_dt_b, s_dt_d, s_dt_l,
    s_A_d, s_A_n,
    s_B_b, s_B_n, s_B_l,
    s_C_b, s_C_n, s_C_l,
    s_z_b, s_z_d, s_z_l,
    s_o_b, s_o_d, s_o_l,
    # flags
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    HAS_H0: tl.constexpr, STORE_CKPT: tl.constexpr, STORE_LAST: tl.constexpr, HAS_SEQ: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr, NUM_STAGES: tl.constexpr,
):
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    offs_t = tl.arange(0, CHUNK)
    mask_d = offs_d < dim
    mask_n = offs_n < dstate
    mask_dn = mask_d[:, None] & mask_n[None, :]

    # exp(dt*A) as exp2(dt * A*log2(e)): one multiply less per element.
    A2 = tl.load(A_ptr + offs_d[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_dn, other=0.0).to(tl.float32) * 1.4426950408889634
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    Dv = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)

    state_offs = offs_d[:, None] * dstate + offs_n[None, :]
    h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    if HAS_H0:
        h = tl.load(h0_ptr + pid_b * dim * dstate + state_offs, mask=mask_dn, other=0.0).to(tl.float32)

    u_ptr += pid_b * s_u_b
    dt_ptr += pid_b * s_dt_b
    B_ptr += pid_b * s_B_b
    C_ptr += pid_b * s_C_b
    z_ptr += pid_b * s_z_b
    out_ptr += pid_b * s_o_b
    seq_ptr += pid_b * s_s_b
    ckpt_ptr += pid_b * n_chunks * dim * dstate

    for c in tl.range(0, n_chunks, num_stages=NUM_STAGES):
        if STORE_CKPT:
            tl.store(ckpt_ptr + c * dim * dstate + state_offs, h, mask=mask_dn)
        t = c * CHUNK + offs_t
        mask_t = t < seqlen
        mask_td = mask_t[:, None] & mask_d[None, :]
        mask_tn = mask_t[:, None] & mask_n[None, :]
        td_u = t[:, None] * s_u_l + offs_d[None, :] * s_u_d
        u = tl.load(u_ptr + td_u, mask=mask_td, other=0.0).to(tl.float32)
        dt, _raw = _load_dt(dt_ptr, bias, offs_d, t, mask_d, seqlen, s_dt_d, s_dt_l, HAS_BIAS, SOFTPLUS)
        Bt = tl.load(B_ptr + t[:, None] * s_B_l + offs_n[None, :] * s_B_n, mask=mask_tn, other=0.0).to(tl.float32)
        Ct = tl.load(C_ptr + t[:, None] * s_C_l + offs_n[None, :] * s_C_n, mask=mask_tn, other=0.0).to(tl.float32)

        a = tl.exp2(dt[:, :, None] * A2[None, :, :])
        if HAS_SEQ:
            a = tl.where(_doc_starts(seq_ptr, t, seqlen, s_s_l)[:, None, None], 0.0, a)
        bx = (dt * u)[:, :, None] * Bt[:, None, :]
        acum, hs = tl.associative_scan((a, bx), 0, _first_order)
        hs = hs + acum * h[None, :, :]
        y = tl.sum(hs * Ct[:, None, :], axis=2)
        # Masked steps have a=1, bx=0, so the last row is the state after the last real step.
        h = tl.sum(tl.where(offs_t[:, None, None] == CHUNK - 1, hs, 0.0), axis=0)

        if HAS_D:
            y += u * Dv[None, :]
        if HAS_Z:
            z = tl.load(z_ptr + t[:, None] * s_z_l + offs_d[None, :] * s_z_d, mask=mask_td, other=0.0).to(tl.float32)
            y = y * z * tl.sigmoid(z)
        tl.store(out_ptr + t[:, None] * s_o_l + offs_d[None, :] * s_o_d, y.to(out_ptr.dtype.element_ty), mask=mask_td)

    if STORE_LAST:
        tl.store(last_ptr + pid_b * dim * dstate + state_offs, h, mask=mask_dn)


@triton.jit
def _scan_bwd_kernel(
    # pointers
    u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, ckpt_ptr, dout_ptr, seq_ptr,
    du_ptr, ddt_ptr, dz_ptr, dA_ptr, dBp_ptr, dCp_ptr, dDp_ptr, dbiasp_ptr,
    # sizes
    dim, dstate, seqlen, n_chunks,
    # strides (inputs as in the forward; grads of u, dt, z and dout share the (b, L, D) layout)
    s_s_b, s_s_l,
    s_u_b, s_u_d, s_u_l,
    s_dt_b, s_dt_d, s_dt_l,
    s_A_d, s_A_n,
    s_B_b, s_B_n, s_B_l,
    s_C_b, s_C_n, s_C_l,
    s_z_b, s_z_d, s_z_l,
    s_g_b, s_g_d, s_g_l,
    # flags
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    HAS_SEQ: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr, NUM_STAGES: tl.constexpr,
):
    """Gradients. dB and dC are written per channel block ([b, n_dblocks, L, N], summed by the
    caller); dA, dD and dbias per batch row ([b, D, N] / [b, D]), also summed by the caller, so
    the result is deterministic (no atomics)."""
    pid_d = tl.program_id(0)
    pid_b = tl.program_id(1)
    n_dblocks = tl.num_programs(0)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    offs_t = tl.arange(0, CHUNK)
    mask_d = offs_d < dim
    mask_n = offs_n < dstate
    mask_dn = mask_d[:, None] & mask_n[None, :]

    A = tl.load(A_ptr + offs_d[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_dn, other=0.0).to(tl.float32)
    A2 = A * 1.4426950408889634
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    Dv = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)

    state_offs = offs_d[:, None] * dstate + offs_n[None, :]
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
    part = (pid_b * n_dblocks + pid_d) * dstate * seqlen
    dBp_ptr += part
    dCp_ptr += part

    g_carry = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)  # a_{t+1} * G_{t+1} from the next chunk
    dA_acc = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    dD_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias_acc = tl.zeros([BLOCK_D], dtype=tl.float32)

    for cc in tl.range(0, n_chunks, num_stages=NUM_STAGES):
        c = n_chunks - 1 - cc
        t = c * CHUNK + offs_t
        mask_t = t < seqlen
        mask_td = mask_t[:, None] & mask_d[None, :]
        mask_tn = mask_t[:, None] & mask_n[None, :]
        g_offs = t[:, None] * s_g_l + offs_d[None, :] * s_g_d
        tn_offs = t[:, None] * dstate + offs_n[None, :]

        u = tl.load(u_ptr + t[:, None] * s_u_l + offs_d[None, :] * s_u_d, mask=mask_td, other=0.0).to(tl.float32)
        dt, raw = _load_dt(dt_ptr, bias, offs_d, t, mask_d, seqlen, s_dt_d, s_dt_l, HAS_BIAS, SOFTPLUS)
        # dt one step ahead: the adjoint runs G_t = exp(dt_{t+1} A) G_{t+1} + C_t dy_t.
        dt_next, _raw_next = _load_dt(dt_ptr, bias, offs_d, t + 1, mask_d, seqlen, s_dt_d, s_dt_l, HAS_BIAS, SOFTPLUS)
        Bt = tl.load(B_ptr + t[:, None] * s_B_l + offs_n[None, :] * s_B_n, mask=mask_tn, other=0.0).to(tl.float32)
        Ct = tl.load(C_ptr + t[:, None] * s_C_l + offs_n[None, :] * s_C_n, mask=mask_tn, other=0.0).to(tl.float32)
        dout = tl.load(dout_ptr + g_offs, mask=mask_td, other=0.0).to(tl.float32)

        # Recompute this chunk's states from the checkpointed state entering it.
        h0 = tl.load(ckpt_ptr + c * dim * dstate + state_offs, mask=mask_dn, other=0.0)
        a = tl.exp2(dt[:, :, None] * A2[None, :, :])
        if HAS_SEQ:
            a = tl.where(_doc_starts(seq_ptr, t, seqlen, s_s_l)[:, None, None], 0.0, a)
        bx = (dt * u)[:, :, None] * Bt[:, None, :]
        acum, hs = tl.associative_scan((a, bx), 0, _first_order)
        hs = hs + acum * h0[None, :, :]

        dy = dout
        if HAS_Z:
            z = tl.load(z_ptr + t[:, None] * s_z_l + offs_d[None, :] * s_z_d, mask=mask_td, other=0.0).to(tl.float32)
            y = tl.sum(hs * Ct[:, None, :], axis=2)
            if HAS_D:
                y += u * Dv[None, :]
            sz = tl.sigmoid(z)
            dz = dout * y * sz * (1.0 + z * (1.0 - sz))
            tl.store(dz_ptr + g_offs, dz.to(dz_ptr.dtype.element_ty), mask=mask_td)
            dy = dout * z * sz
        du = tl.zeros([CHUNK, BLOCK_D], dtype=tl.float32)
        if HAS_D:
            du = dy * Dv[None, :]
            dD_acc += tl.sum(dy * u, axis=0)

        # dC_t[n] = sum_d h_t dy_t (partial over this channel block).
        dC = tl.sum(hs * dy[:, :, None], axis=1)
        tl.store(dCp_ptr + tn_offs, dC, mask=mask_tn)

        # Adjoint G_t = dL/dh_t, reverse scan; the next chunk's contribution enters at the last step.
        a_next = tl.exp2(dt_next[:, :, None] * A2[None, :, :])
        if HAS_SEQ:
            # No gradient flows back into the previous document.
            a_next = tl.where(_doc_starts(seq_ptr, t + 1, seqlen, s_s_l)[:, None, None], 0.0, a_next)
        cin = Ct[:, None, :] * dy[:, :, None] + tl.where(offs_t[:, None, None] == CHUNK - 1, g_carry[None, :, :], 0.0)
        _acc, G = tl.associative_scan((a_next, cin), 0, _first_order, reverse=True)
        g_carry = tl.sum(tl.where(offs_t[:, None, None] == 0, a * G, 0.0), axis=0)

        # a_t * h_{t-1} = h_t - bx_t, so no shifted state is needed.
        Gdh = G * (hs - bx)
        GB = tl.sum(G * Bt[:, None, :], axis=2)
        ddt = tl.sum(Gdh * A[None, :, :], axis=2) + GB * u
        du += GB * dt
        dA_acc += tl.sum(Gdh * dt[:, :, None], axis=0)
        dB = tl.sum(G * (dt * u)[:, :, None], axis=1)
        tl.store(dBp_ptr + tn_offs, dB, mask=mask_tn)

        if SOFTPLUS:
            ddt = tl.where(raw > 20.0, ddt, ddt * tl.sigmoid(raw))
        ddt = tl.where(mask_td, ddt, 0.0)
        dbias_acc += tl.sum(ddt, axis=0)
        tl.store(ddt_ptr + g_offs, ddt.to(ddt_ptr.dtype.element_ty), mask=mask_td)
        tl.store(du_ptr + g_offs, du.to(du_ptr.dtype.element_ty), mask=mask_td)

    tl.store(dA_ptr + pid_b * dim * dstate + state_offs, dA_acc, mask=mask_dn)
    if HAS_D:
        tl.store(dDp_ptr + pid_b * dim + offs_d, dD_acc, mask=mask_d)
    if HAS_BIAS:
        tl.store(dbiasp_ptr + pid_b * dim + offs_d, dbias_acc, mask=mask_d)


def _check(u, delta, A, B, C, D, z, delta_bias):
    if u.dim() != 3:
        raise ValueError(f"selective_scan: u must be (batch, dim, seqlen), got shape {tuple(u.shape)}")
    b, d, L = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"selective_scan: delta shape {tuple(delta.shape)} != u shape {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"selective_scan: A must be (dim={d}, dstate), got {tuple(A.shape)}")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if t.shape != (b, n, L):
            raise ValueError(f"selective_scan: {name} must be (batch, dstate, seqlen)={(b, n, L)}, got {tuple(t.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"selective_scan: z shape {tuple(z.shape)} != u shape {tuple(u.shape)}")
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and t.shape != (d,):
            raise ValueError(f"selective_scan: {name} must be (dim={d},), got {tuple(t.shape)}")


def _blocks(dstate: int, seqlen: int):
    return scan_configs(triton.next_power_of_2(dstate), seqlen, "v3")


def _bl_d_view(b: int, d: int, L: int, dtype, device) -> torch.Tensor:
    """A (b, d, L) tensor stored as (b, L, d): what out_proj/x_proj read without a copy."""
    return torch.empty(b, L, d, dtype=dtype, device=device).transpose(1, 2)


def _seq_args(seq_idx, fallback):
    """(pointer, (stride_b, stride_l)) for the launch; the pointer is unused when seq_idx is None."""
    if seq_idx is None:
        return fallback, (0, 0)
    return seq_idx, tuple(seq_idx.stride())


def scan_forward(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                 h0=None, store_ckpt=False, store_last=False, config=None, seq_idx=None):
    """Launch the forward. Returns (out (b, D, L) in u's dtype, ckpt or None, last state or None)."""
    b, dim, L = u.shape
    n = A.shape[1]
    cfg = config or _blocks(n, L)[0]
    BLOCK_N = triton.next_power_of_2(n)
    n_chunks = triton.cdiv(L, cfg["CHUNK"])
    out = _bl_d_view(b, dim, L, u.dtype, u.device)
    ckpt = torch.empty(b, n_chunks, dim, n, dtype=torch.float32, device=u.device) if store_ckpt else None
    last = torch.empty(b, dim, n, dtype=torch.float32, device=u.device) if store_last else None
    dummy = u
    zz = z if z is not None else u
    grid = (triton.cdiv(dim, cfg["BLOCK_D"]), b)
    seq, seq_strides = _seq_args(seq_idx, dummy)
    _scan_fwd_kernel[grid](
        u, delta, A, B, C, D if D is not None else dummy, zz, delta_bias if delta_bias is not None else dummy,
        h0.contiguous() if h0 is not None else dummy, seq,
        out, ckpt if ckpt is not None else dummy, last if last is not None else dummy,
        dim, n, L, n_chunks,
        *seq_strides, *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *zz.stride(), *out.stride(),
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        HAS_H0=h0 is not None, STORE_CKPT=store_ckpt, STORE_LAST=store_last, HAS_SEQ=seq_idx is not None,
        BLOCK_D=cfg["BLOCK_D"], BLOCK_N=BLOCK_N, CHUNK=cfg["CHUNK"], NUM_STAGES=cfg.get("num_stages", 1),
        num_warps=cfg["num_warps"],
    )
    return out, ckpt, last


def bwd_buffers(dout, u, delta, z, n: int, n_dblocks: int):
    """Outputs of a backward launch (every scan variant): du, ddt, dz in one (b, L, D) layout so the
    launch takes one set of strides (dout moved to it too), fp32 dA, and the per-D-block partial sums
    of dB, dC and per-batch dD, d(dt bias) that bwd_results reduces."""
    b, dim, L = u.shape
    du = _bl_d_view(b, dim, L, u.dtype, u.device)
    ddt = _bl_d_view(b, dim, L, delta.dtype, u.device)
    dz = _bl_d_view(b, dim, L, z.dtype, u.device) if z is not None else du
    if dout.stride() != du.stride():
        dout = dout.transpose(1, 2).contiguous().transpose(1, 2)
    f32 = {"dtype": torch.float32, "device": u.device}
    return (dout, du, ddt, dz, torch.empty(b, dim, n, **f32), torch.empty(b, n_dblocks, L, n, **f32),
            torch.empty(b, n_dblocks, L, n, **f32), torch.empty(b, dim, **f32), torch.empty(b, dim, **f32))


def bwd_results(du, ddt, dz, dA, dBp, dCp, dDp, dbiasp, A, B, C, D, z, delta_bias):
    """Reduces the partial sums into the gradients of (u, delta, A, B, C, D, z, delta_bias)."""
    dB = dBp.sum(1).to(B.dtype).transpose(1, 2)  # (b, N, L) view of (b, L, N)
    dC = dCp.sum(1).to(C.dtype).transpose(1, 2)
    return (du, ddt, dA.sum(0).to(A.dtype), dB, dC,
            dDp.sum(0).to(D.dtype) if D is not None else None,
            dz if z is not None else None,
            dbiasp.sum(0).to(delta_bias.dtype) if delta_bias is not None else None)


def scan_backward(dout, u, delta, A, B, C, D, z, delta_bias, delta_softplus, ckpt, config=None, seq_idx=None):
    b, dim, L = u.shape
    n = A.shape[1]
    cfg = config or _blocks(n, L)[0]
    BLOCK_N = triton.next_power_of_2(n)
    n_chunks = ckpt.shape[1]
    if triton.cdiv(L, cfg["CHUNK"]) != n_chunks:
        raise RuntimeError("selective_scan: backward chunking differs from the forward's checkpoints")
    n_dblocks = triton.cdiv(dim, cfg["BLOCK_D"])
    dout, du, ddt, dz, dA, dBp, dCp, dDp, dbiasp = bwd_buffers(dout, u, delta, z, n, n_dblocks)
    dummy = u
    zz = z if z is not None else u
    seq, seq_strides = _seq_args(seq_idx, dummy)
    _scan_bwd_kernel[(n_dblocks, b)](
        u, delta, A, B, C, D if D is not None else dummy, zz, delta_bias if delta_bias is not None else dummy,
        ckpt, dout, seq, du, ddt, dz, dA, dBp, dCp, dDp, dbiasp,
        dim, n, L, n_chunks,
        *seq_strides, *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *zz.stride(), *du.stride(),
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        HAS_SEQ=seq_idx is not None,
        BLOCK_D=cfg["BLOCK_D"], BLOCK_N=BLOCK_N, CHUNK=cfg["CHUNK"], NUM_STAGES=cfg.get("num_stages", 1),
        num_warps=cfg["num_warps"],
    )
    return bwd_results(du, ddt, dz, dA, dBp, dCp, dDp, dbiasp, A, B, C, D, z, delta_bias)


def _impl(variant: str):
    """(forward, backward) launchers of a scan variant (see _launch.scan_variant)."""
    if variant == "v4":
        from . import scan_v4

        return scan_v4.scan_forward, scan_v4.scan_backward
    return scan_forward, scan_backward


class SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, seq_idx, variant):
        need_grad = any(ctx.needs_input_grad[:8])
        forward, _ = _impl(variant)
        out, ckpt, last = forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                  store_ckpt=need_grad, store_last=return_last_state, seq_idx=seq_idx)
        if need_grad:
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt, seq_idx)
        ctx.delta_softplus = delta_softplus
        ctx.variant = variant
        if return_last_state:
            ctx.mark_non_differentiable(last)
            return out, last
        return out

    @staticmethod
    def backward(ctx, dout, *_dlast):
        u, delta, A, B, C, D, z, delta_bias, ckpt, seq_idx = ctx.saved_tensors
        _, backward = _impl(ctx.variant)
        grads = backward(dout, u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus, ckpt, seq_idx=seq_idx)
        return (*grads, None, None, None, None)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, initial_state=None, seq_idx=None, variant=None):
    """Selective scan; shapes: u, delta, z (b, D, L); A (D, N); B, C (b, N, L); D, delta_bias (D,).

    Returns out (b, D, L) in u's dtype, and with `return_last_state` the final state (b, D, N)
    in fp32. `initial_state` (b, D, N) is supported for inference only (no gradient).
    `seq_idx` (b, L) int: document index per position (packed rows); the state restarts from
    zero wherever it changes, so each document gets the outputs and gradients it would get
    alone. `variant`: "v3" or "v4" kernel (default: _launch.scan_variant()).
    """
    from ._launch import scan_variant
    from .conv import check_seq_idx

    _check(u, delta, A, B, C, D, z, delta_bias)
    seq_idx = check_seq_idx(seq_idx, u.shape[0], u.shape[2], "selective_scan")
    variant = variant or scan_variant()
    if initial_state is not None:
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (u, delta, A, B, C, D, z, delta_bias)):
            raise ValueError("selective_scan: initial_state is supported without gradients only")
        forward, _ = _impl(variant)
        out, _, last = forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                               h0=initial_state.float(), store_last=return_last_state, seq_idx=seq_idx)
        return (out, last) if return_last_state else out
    return SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, seq_idx,
                                 variant)


__all__ = ["selective_scan", "scan_forward", "scan_backward", "interpreting"]
