"""Pieces every selective-scan kernel shares: Triton helpers (the scan's combine function,
softplus, document starts) and the host side around a launch (argument checks, output layouts,
the backward's buffers and the reduction of its partial sums). Kernels import from here; nothing
here imports a kernel, so there is no import cycle."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def first_order(a1, b1, a2, b2):
    # Composition of h -> a1*h + b1 then h -> a2*h + b2 (forward); in a reverse scan the
    # accumulated later part comes first, giving G_t = a_t * G_{t+1} + b_t.
    return a1 * a2, b1 * a2 + b2


@triton.jit
def softplus(x):
    # Matches torch.nn.functional.softplus (threshold 20) without losing tiny values.
    return tl.where(x > 20.0, x, tl.where(x < -15.0, tl.exp(x), tl.log(1.0 + tl.exp(x))))


@triton.jit
def doc_starts(seq_ptr, t, seqlen, s_s_l):
    """True at steps that begin a new document (seq_idx differs from the step before): the
    state entering them is dropped, i.e. their decay a_t is taken as 0."""
    ok = (t > 0) & (t < seqlen)
    cur = tl.load(seq_ptr + t * s_s_l, mask=ok, other=0)
    prev = tl.load(seq_ptr + (t - 1) * s_s_l, mask=ok, other=0)
    return ok & (cur != prev)


def check_args(u, delta, A, B, C, D, z, delta_bias):
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


def bl_d_view(b: int, d: int, L: int, dtype, device) -> torch.Tensor:
    """A (b, d, L) tensor stored as (b, L, d): what out_proj/x_proj read without a copy."""
    return torch.empty(b, L, d, dtype=dtype, device=device).transpose(1, 2)


def seq_args(seq_idx, fallback):
    """(pointer, (stride_b, stride_l)) for the launch; the pointer is unused when seq_idx is None."""
    if seq_idx is None:
        return fallback, (0, 0)
    return seq_idx, tuple(seq_idx.stride())


def bwd_buffers(dout, u, delta, z, n: int, n_dblocks: int, segs: int = 1, atomic_dbc: bool = False):
    """Outputs of a backward launch: du, ddt, dz in one (b, L, D) layout so the launch takes one
    set of strides (dout moved to it too), and the partial sums that bwd_results reduces: fp32 dA,
    dD, d(dt bias) per (time segment, batch row), dB and dC per D block (`atomic_dbc`: one zeroed
    block each, which the kernel adds into)."""
    b, dim, L = u.shape
    du = bl_d_view(b, dim, L, u.dtype, u.device)
    ddt = bl_d_view(b, dim, L, delta.dtype, u.device)
    dz = bl_d_view(b, dim, L, z.dtype, u.device) if z is not None else du
    if dout.stride() != du.stride():
        dout = dout.transpose(1, 2).contiguous().transpose(1, 2)
    f32 = {"dtype": torch.float32, "device": u.device}
    parts = torch.zeros if atomic_dbc else torch.empty
    blocks = 1 if atomic_dbc else n_dblocks
    return (dout, du, ddt, dz, torch.empty(segs * b, dim, n, **f32), parts(b, blocks, L, n, **f32),
            parts(b, blocks, L, n, **f32), torch.empty(segs * b, dim, **f32),
            torch.empty(segs * b, dim, **f32))


def bwd_results(du, ddt, dz, dA, dBp, dCp, dDp, dbiasp, A, B, C, D, z, delta_bias):
    """Reduces the partial sums into the gradients of (u, delta, A, B, C, D, z, delta_bias)."""
    dB = dBp.sum(1).to(B.dtype).transpose(1, 2)  # (b, N, L) view of (b, L, N)
    dC = dCp.sum(1).to(C.dtype).transpose(1, 2)
    return (du, ddt, dA.sum(0).to(A.dtype), dB, dC,
            dDp.sum(0).to(D.dtype) if D is not None else None,
            dz if z is not None else None,
            dbiasp.sum(0).to(delta_bias.dtype) if delta_bias is not None else None)
