"""Selective scan (Mamba-1): the autograd Function and the public entry `selective_scan`.

The kernels are in scan_v4.py (semantics in its docstring), the pieces around them in
scan_common.py. Memory: the forward keeps no chunk checkpoints when `_launch.scan_recompute()` is
on (the default): the backward recomputes them (one extra forward pass without its output, held
only during that layer's backward). Without gradient checkpointing, storing them would keep
b·L·D·N/CHUNK fp32 per layer for every layer (43 GB at the 2.8B shape, batch 4, seq 2048). With
gradient checkpointing the layer's forward is itself recomputed right before its backward, so
there the checkpoints are stored (`set_scan_recompute(False)`, done by training.py) and a third
pass is saved.

Where the caller reruns the forward itself (patch.py's mixer recompute, a non-reentrant
`checkpoint`), each pass does only what is used: the first writes the output and no chunk
checkpoints (the checkpoint would drop them), the rerun writes the checkpoints and no output
(`need_out=False`; nothing reads it). A forward that keeps no checkpoints saves `no_ckpt()` in
their place: same shape and dtype, no memory, so the tensors saved by the first pass and by the
rerun match as torch's checkpoint requires; the backward recomputes whenever it finds it.
"""

from __future__ import annotations

import torch

from . import scan_v4
from .scan_common import check_args


def no_ckpt(u: torch.Tensor, n_chunks: int, n: int) -> torch.Tensor:
    """Stands in for the chunk checkpoints (b, n_chunks, D, N) fp32 where none are kept: an
    expanded scalar (no memory), told apart by its zero strides."""
    b, dim, _ = u.shape
    return torch.zeros((), dtype=torch.float32, device=u.device).expand(b, n_chunks, dim, n)


def is_ckpt(ckpt: torch.Tensor | None) -> bool:
    return ckpt is not None and ckpt.stride(-1) != 0


class SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, seq_idx, keep_ckpt,
                need_out):
        need_grad = any(ctx.needs_input_grad[:8])
        out, ckpt, last = scan_v4.scan_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                               store_ckpt=need_grad and keep_ckpt, store_last=return_last_state,
                                               seq_idx=seq_idx, store_out=need_out)
        if out is None:  # a rerun whose output nobody reads: a same-shaped stand-in, no memory
            out = torch.zeros((), dtype=u.dtype, device=u.device).expand(u.shape)
        if need_grad:
            if ckpt is None:
                ckpt = no_ckpt(u, scan_v4.chunk_count(u, A), A.shape[1])
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt, seq_idx)
        ctx.delta_softplus = delta_softplus
        if return_last_state:
            ctx.mark_non_differentiable(last)
            return out, last
        return out

    @staticmethod
    def backward(ctx, dout, *_dlast):
        u, delta, A, B, C, D, z, delta_bias, ckpt, seq_idx = ctx.saved_tensors
        grads = scan_v4.scan_backward(dout, u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus,
                                      ckpt if is_ckpt(ckpt) else None, seq_idx=seq_idx)
        return (*grads, None, None, None, None, None)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, initial_state=None, seq_idx=None, keep_ckpt=None, need_out=True):
    """Selective scan; shapes: u, delta, z (b, D, L); A (D, N); B, C (b, N, L); D, delta_bias (D,).

    Returns out (b, D, L) in u's dtype, and with `return_last_state` the final state (b, D, N)
    in fp32. `initial_state` (b, D, N) is supported for inference only (no gradient).
    `seq_idx` (b, L) int: document index per position (packed rows); the state restarts from
    zero wherever it changes, so each document gets the outputs and gradients it would get
    alone. `keep_ckpt`: store the chunk checkpoints for the backward instead of recomputing them
    (default: not _launch.scan_recompute()). `need_out=False` (a rerun of the forward whose output
    is discarded, e.g. inside a checkpoint's recompute): the output is not computed and a
    stand-in without memory is returned.
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
                                 keep, bool(need_out))


__all__ = ["selective_scan"]
