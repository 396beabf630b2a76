"""Plain-PyTorch twins of every Triton kernel, written for clarity, used by the tests.

Each computes in fp32 (or the dtype of its inputs when those are float64) and mirrors the
semantics of transformers' Mamba-1 code paths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def document_starts(seq_idx, seqlen: int):
    """(b, L) bool: True where a new document begins (seq_idx changes from the previous step)."""
    starts = torch.zeros(seq_idx.shape[0], seqlen, dtype=torch.bool, device=seq_idx.device)
    starts[:, 1:] = seq_idx[:, 1:] != seq_idx[:, :-1]
    return starts


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       return_last_state=False, initial_state=None, seq_idx=None):
    """u, delta, z (b, D, L); A (D, N); B, C (b, N, L); D, delta_bias (D,). Sequential over L.

    seq_idx (b, L) int: document index per position; the state restarts from zero where it
    changes, as if each document were run on its own."""
    dtype_in = u.dtype
    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    b, d, L = u.shape
    h = initial_state.to(work) if initial_state is not None else u.new_zeros(b, d, A.shape[1])
    starts = document_starts(seq_idx, L) if seq_idx is not None else None
    ys = []
    for t in range(L):
        dA = torch.exp(delta[:, :, t, None] * A[None])
        if starts is not None:
            dA = torch.where(starts[:, t, None, None], torch.zeros_like(dA), dA)
        h = dA * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + u * D.to(work)[None, :, None]
    if z is not None:
        y = y * F.silu(z.to(work))
    out = y.to(dtype_in)
    return (out, h) if return_last_state else out


def causal_conv1d_ref(x, weight, bias=None, activation=True, seq_idx=None):
    """x (b, D, L); weight (D, K); bias (D,). Causal depthwise conv, then SiLU if `activation`.

    seq_idx (b, L) int: a tap reads x[s] for output t only when seq_idx[s] == seq_idx[t], so no
    document sees the previous one's inputs."""
    dtype_in = x.dtype
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    K = weight.shape[1]
    if seq_idx is None:
        out = F.conv1d(x.to(work), weight.to(work)[:, None, :], bias.to(work) if bias is not None else None,
                       padding=K - 1, groups=x.shape[1])[..., : x.shape[-1]]
    else:
        windows = F.pad(x.to(work), (K - 1, 0)).unfold(-1, K, 1)  # (b, D, L, K): x[t-K+1+k]
        same = F.pad(seq_idx, (K - 1, 0), value=-1).unfold(-1, K, 1) == seq_idx[..., None]  # (b, L, K)
        out = (windows * weight.to(work)[None, :, None, :] * same[:, None].to(work)).sum(-1)
        if bias is not None:
            out = out + bias.to(work)[None, :, None]
    if activation:
        out = F.silu(out)
    return out.to(dtype_in)


def conv_update_ref(x, conv_state, weight, bias=None, activation=True):
    """One decode step. x (b, D); conv_state (b, D, K) updated in place (oldest first)."""
    conv_state.copy_(torch.cat([conv_state[..., 1:], x[..., None].to(conv_state.dtype)], dim=-1))
    out = (conv_state.float() * weight.float()[None]).sum(-1)
    if bias is not None:
        out = out + bias.float()
    if activation:
        out = F.silu(out)
    return out.to(x.dtype)


def conv_xproj_ref(x, conv_state, weight, bias, activation, x_proj_weight):
    """conv_update_ref, then x_proj on its output as transformers runs it: (xc, xc @ W_x.T in fp32)."""
    xc = conv_update_ref(x, conv_state, weight, bias, activation)
    return xc, xc.float() @ x_proj_weight.float().T


def state_update_ref(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    """One decode step. state (b, D, N) updated in place; x, dt, z (b, D); B, C (b, N)."""
    dt = dt.float()
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    if dt_softplus:
        dt = F.softplus(dt)
    dA = torch.exp(dt[..., None] * A.float()[None])
    h = state.float() * dA + dt[..., None] * B.float()[:, None, :] * x.float()[..., None]
    state.copy_(h.to(state.dtype))
    y = (h * C.float()[:, None, :]).sum(-1)
    if D is not None:
        y = y + x.float() * D.float()
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(x.dtype)


def add_rms_norm_ref(residual, h, weight, eps, in_dtype, res_dtype=None):
    """The decode step's residual add and next RMSNorm (norm.add_rms_norm) as transformers writes
    them: x = residual + h (x = residual without h), then MambaRMSNorm on x.to(in_dtype).
    Returns (x as res_dtype or None, the norm's output)."""
    x = residual + h if h is not None else residual
    xr = x.to(in_dtype)
    r = torch.rsqrt(xr.float().pow(2).mean(-1, keepdim=True) + eps)
    out = weight * (xr.float() * r).to(in_dtype)
    return (x.to(res_dtype) if res_dtype is not None else None), out
