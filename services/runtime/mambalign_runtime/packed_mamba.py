"""Boundary-aware Mamba-1 forward for packed rows: the plain-PyTorch reference path.

In a packed row several documents follow each other. Mamba carries two states along the
sequence, the causal conv window (the last d_conv-1 inputs) and the SSM state h; both must start
from zero at every document start, or one document's state flows into the next. Boundaries come
as `seq_idx` (b, L): the document index of each token within its row (packing.py), -1 on padding.

The two ops that carry state take `seq_idx`; the fast implementation (kernels/, Triton, through
`fast_kernels()`) provides the same signatures and is checked against these:

    conv(x, weight, bias, seq_idx, activation) -> y
        x (b, D, L); weight (D, K); bias (D,) or None; seq_idx (b, L) int; activation bool (SiLU).
        Output t sums taps x[t-k] only where seq_idx[t-k] == seq_idx[t].
    scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, seq_idx) -> y
        u, delta, z (b, D, L); A (D, N); B, C (b, N, L); D, delta_bias (D,) or None.
        h is zeroed before the update at every t where seq_idx[t] != seq_idx[t-1].

`packed_forward(model, input_ids, seq_idx, kernels)` runs a transformers MambaForCausalLM
with those ops (its in/x/dt/out projections stay module calls, so LoRA-wrapped ones work).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .data import next_token_logps


def document_starts(seq_idx: torch.Tensor) -> torch.Tensor:
    """(b, L) bool: True where a token starts a document (position 0 always does)."""
    starts = torch.ones_like(seq_idx, dtype=torch.bool)
    starts[:, 1:] = seq_idx[:, 1:] != seq_idx[:, :-1]
    return starts


def causal_conv1d_packed_ref(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             seq_idx: torch.Tensor, activation: bool = True) -> torch.Tensor:
    """Depthwise causal conv whose window never reaches into the previous document."""
    dtype_in = x.dtype
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xw, w = x.to(work), weight.to(work)
    K = w.shape[1]
    L = x.shape[-1]
    out = torch.zeros_like(xw)
    for k in range(K):  # tap k reads x[t - k] with weight column K-1-k
        if k >= L:
            break
        shifted = F.pad(xw, (k, 0))[..., :L]
        same = torch.zeros_like(seq_idx, dtype=torch.bool)
        same[:, k:] = seq_idx[:, k:] == seq_idx[:, : L - k]
        out = out + shifted * w[:, K - 1 - k, None] * same[:, None, :].to(work)
    if bias is not None:
        out = out + bias.to(work)[None, :, None]
    if activation:
        out = F.silu(out)
    return out.to(dtype_in)


def selective_scan_packed_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                              seq_idx: torch.Tensor | None = None):
    """The selective scan, sequential over L, with the state reset at each document start."""
    dtype_in = u.dtype
    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    b, d, L = u.shape
    keep = None if seq_idx is None else (~document_starts(seq_idx)).to(work)  # 0 where the state resets
    h = u.new_zeros(b, d, A.shape[1])
    ys = []
    for t in range(L):
        if keep is not None:
            h = h * keep[:, t, None, None]
        dA = torch.exp(delta[:, :, t, None] * A[None])
        h = dA * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + u * D.to(work)[None, :, None]
    if z is not None:
        y = y * F.silu(z.to(work))
    return y.to(dtype_in)


@dataclass(frozen=True)
class PackedKernels:
    """The two state-carrying ops (signatures in the module docstring)."""

    conv: Callable[..., torch.Tensor]
    scan: Callable[..., torch.Tensor]


REFERENCE = PackedKernels(conv=causal_conv1d_packed_ref, scan=selective_scan_packed_ref)


def fast_kernels() -> PackedKernels:
    """The Triton kernels (kernels/conv.py, kernels/scan.py), which take `seq_idx` too."""
    from .kernels.conv import causal_conv1d
    from .kernels.scan import selective_scan

    def conv(x, weight, bias, seq_idx, activation=True):
        return causal_conv1d(x, weight, bias, activation, seq_idx)

    def scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, seq_idx=None):
        return selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, seq_idx=seq_idx)

    return PackedKernels(conv=conv, scan=scan)


def mixer_forward_packed(mixer, hidden_states: torch.Tensor, seq_idx: torch.Tensor,
                         kernels: PackedKernels = REFERENCE) -> torch.Tensor:
    """transformers' MambaMixer forward (no cache) with boundary-aware conv and scan."""
    dtype = hidden_states.dtype
    projected = mixer.in_proj(hidden_states).transpose(1, 2)  # (b, 2D, L)
    x, gate = projected.chunk(2, dim=1)
    if mixer.activation not in ("silu", "swish"):
        raise ValueError(f"packed Mamba supports SiLU mixers only, got {mixer.activation!r}")
    x = kernels.conv(x, mixer.conv1d.weight.squeeze(1), mixer.conv1d.bias if mixer.use_conv_bias else None,
                     seq_idx, True)
    ssm_in = x.transpose(1, 2)  # (b, L, D)
    time_step, B, C = torch.split(mixer.x_proj(ssm_in),
                                  [mixer.time_step_rank, mixer.ssm_state_size, mixer.ssm_state_size], dim=-1)
    if type(mixer.dt_proj) is torch.nn.Linear:
        # As transformers does: the dt projection's bias is applied inside the scan (delta_bias).
        dt = F.linear(time_step, mixer.dt_proj.weight).transpose(1, 2)
        dt_bias = mixer.dt_proj.bias.float() if mixer.dt_proj.bias is not None else None
    else:
        # A wrapped projection (LoRA, 4-bit) is called as a module so its adapter counts.
        dt, dt_bias = mixer.dt_proj(time_step).transpose(1, 2), None
    A = -torch.exp(mixer.A_log.float())
    y = kernels.scan(x, dt, A, B.transpose(1, 2), C.transpose(1, 2), mixer.D.float(), gate, dt_bias, True, seq_idx)
    return mixer.out_proj(y.transpose(1, 2).to(dtype))


def packed_forward(model, input_ids: torch.Tensor, seq_idx: torch.Tensor,
                   kernels: PackedKernels = REFERENCE) -> torch.Tensor:
    """Logits (b, L, V) of a MambaForCausalLM on packed rows, each document seeing only itself."""
    if input_ids.shape != seq_idx.shape:
        raise ValueError(f"input_ids {tuple(input_ids.shape)} and seq_idx {tuple(seq_idx.shape)} differ in shape")
    backbone = model.backbone
    hidden = backbone.embeddings(input_ids.long())
    for block in backbone.layers:
        residual = hidden
        hidden = block.norm(hidden.to(dtype=block.norm.weight.dtype))
        if block.residual_in_fp32:
            residual = residual.to(torch.float32)
        hidden = residual + mixer_forward_packed(block.mixer, hidden, seq_idx, kernels)
    hidden = backbone.norm_f(hidden)
    return model.lm_head(hidden.to(model.lm_head.weight.dtype)).float()


def target_weights(loss_mask: torch.Tensor, seq_idx: torch.Tensor) -> torch.Tensor:
    """(b, L-1) bool weights for next-token loss: position t predicts t+1, which counts when it is
    in the loss mask and in the same document as t (a document's first token has no context from
    its own document, exactly as when the document runs alone)."""
    same_doc = (seq_idx[:, 1:] == seq_idx[:, :-1]) & (seq_idx[:, 1:] >= 0)
    return loss_mask[:, 1:].to(torch.bool) & same_doc


def per_document_nll(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor,
                     seq_idx: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
    """Summed next-token NLL per (row, document) over loss-masked targets within the document."""
    picked = next_token_logps(logits, input_ids)
    weights = target_weights(loss_mask, seq_idx)
    out: dict[tuple[int, int], torch.Tensor] = {}
    for r in range(input_ids.shape[0]):
        for d in torch.unique(seq_idx[r]).tolist():
            if d < 0:
                continue
            sel = weights[r] & (seq_idx[r, 1:] == d)
            out[(r, int(d))] = -(picked[r][sel]).sum()
    return out
