"""Selective scan (Mamba-1): the autograd Function and the public entry `selective_scan`.

The kernels are in scan_v4.py (semantics in its docstring), the pieces around them in
scan_common.py. Memory: the forward keeps no chunk checkpoints when `_launch.scan_recompute()` is
on (the default): the backward recomputes them (one extra forward pass without its output, held
only during that layer's backward). Without gradient checkpointing, storing them would keep
b·L·D·N/CHUNK fp32 per layer for every layer (43 GB at the 2.8B shape, batch 4, seq 2048). With
gradient checkpointing the layer's forward is itself recomputed right before its backward, so
there the checkpoints are stored (`set_scan_recompute(False)`, done by training.py) and a third
pass is saved.
"""

from __future__ import annotations

import torch

from . import scan_v4
from .scan_common import check_args


class SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, seq_idx, keep_ckpt):
        need_grad = any(ctx.needs_input_grad[:8])
        out, ckpt, last = scan_v4.scan_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                               store_ckpt=need_grad and keep_ckpt, store_last=return_last_state,
                                               seq_idx=seq_idx)
        if need_grad:
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt, seq_idx)
        ctx.delta_softplus = delta_softplus
        if return_last_state:
            ctx.mark_non_differentiable(last)
            return out, last
        return out

    @staticmethod
    def backward(ctx, dout, *_dlast):
        u, delta, A, B, C, D, z, delta_bias, ckpt, seq_idx = ctx.saved_tensors
        grads = scan_v4.scan_backward(dout, u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus, ckpt,
                                      seq_idx=seq_idx)
        return (*grads, None, None, None, None)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, initial_state=None, seq_idx=None, keep_ckpt=None):
    """Selective scan; shapes: u, delta, z (b, D, L); A (D, N); B, C (b, N, L); D, delta_bias (D,).

    Returns out (b, D, L) in u's dtype, and with `return_last_state` the final state (b, D, N)
    in fp32. `initial_state` (b, D, N) is supported for inference only (no gradient).
    `seq_idx` (b, L) int: document index per position (packed rows); the state restarts from
    zero wherever it changes, so each document gets the outputs and gradients it would get
    alone. `keep_ckpt`: store the chunk checkpoints for the backward instead of recomputing them
    (default: not _launch.scan_recompute()).
    """
    from ._launch import scan_recompute
    from .conv import check_seq_idx

    check_args(u, delta, A, B, C, D, z, delta_bias)
    seq_idx = check_seq_idx(seq_idx, u.shape[0], u.shape[2], "selective_scan")
    if initial_state is not None:
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (u, delta, A, B, C, D, z, delta_bias)):
            raise ValueError("selective_scan: initial_state is supported without gradients only")
        out, _, last = scan_v4.scan_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                            h0=initial_state.float(), store_last=return_last_state, seq_idx=seq_idx)
        return (out, last) if return_last_state else out
    keep = (not scan_recompute()) if keep_ckpt is None else bool(keep_ckpt)
    return SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, seq_idx,
                                 keep)


__all__ = ["selective_scan"]
