"""The training loss's numerator: summed, weighted next-token negative log-likelihood.

SFT's step and `bench`'s train step both call `next_token_nll`, so the two do the same GPU work
at the same micro-batch and their tokens/s compare directly.

The lm_head and the cross-entropy run over chunks of `CHUNK_TOKENS` positions: a chunk's logits
are made in the dtype the lm_head would use (autocast's), turned into fp32 log-probabilities, the
targets' picked, and dropped; the backward makes them again chunk by chunk. The plain computation
keeps (batch, seq, vocab) fp32 logits, their log-softmax and gradients (2.8B shape, 4 x 2048
tokens, 50,280 vocabulary: 1.6 GB each); this keeps one chunk's, for one more lm_head GEMM.

No attention mask goes to the model: rows are right-padded and Mamba is causal, so padding never
reaches a scored position (padded positions have weight 0); the mask would only add (b, L, d)
multiplies to every layer, forward and backward.
"""

from __future__ import annotations

import torch
from torch import nn

CHUNK_TOKENS = 2048


def next_token_nll(model, input_ids: torch.Tensor, weights: torch.Tensor, head: nn.Module | None = None) -> torch.Tensor:
    """sum over (row, t) of weights[row, t] * -log p(input_ids[row, t+1] | input_ids[row, :t+1]), fp32.

    `weights` is (batch, seq-1); `model` is a causal LM (PEFT or DDP wrappers allowed), `head` its
    output embedding (found on `model` when not given)."""
    head = head if head is not None else _output_head(model)
    if type(head) is not nn.Linear or head.bias is not None:
        return plain_next_token_nll(model, input_ids, weights)
    hidden = model(input_ids=input_ids, logits_to_keep=1, output_hidden_states=True).hidden_states[-1]
    b, seq, width = hidden.shape
    # Every position is scored, the last with weight 0: the rows stay whole, so no slice copies.
    targets = torch.cat([input_ids[:, 1:], input_ids[:, :1]], dim=1).reshape(-1)
    w = torch.cat([weights.float(), weights.new_zeros(b, 1, dtype=torch.float32)], dim=1).reshape(-1)
    dtype = torch.get_autocast_dtype(hidden.device.type) if torch.is_autocast_enabled(hidden.device.type) \
        else head.weight.dtype
    return ChunkedLinearNll.apply(hidden.reshape(-1, width), head.weight, targets, w, dtype, CHUNK_TOKENS)


def plain_next_token_nll(model, input_ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The same sum through the model's full logits (the reference `next_token_nll` is tested against)."""
    from .data import next_token_logps

    return -(next_token_logps(model(input_ids=input_ids).logits, input_ids) * weights).sum()


def _output_head(model) -> nn.Module:
    inner = getattr(model, "module", model)  # DistributedDataParallel
    return inner.get_output_embeddings()


class ChunkedLinearNll(torch.autograd.Function):
    """-sum_i w_i * log_softmax(h_i W^T)[t_i] with h and W rounded to `dtype` for the GEMM (as
    autocast would), the softmax in fp32; at most `chunk` rows of logits exist at once."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, w, dtype, chunk):
        with torch.autocast(hidden.device.type, enabled=False):
            hc, wc = hidden.to(dtype), weight.to(dtype)
            total = torch.zeros((), dtype=torch.float32, device=hc.device)
            for s in range(0, hc.shape[0], chunk):
                # 16-bit logits to fp32 log-probabilities in one pass (the plain path's log_softmax of .float()).
                logps = torch.log_softmax(hc[s:s + chunk] @ wc.t(), dim=-1, dtype=torch.float32)
                total -= (w[s:s + chunk] * logps.gather(1, targets[s:s + chunk, None]).squeeze(1)).sum()
        ctx.save_for_backward(hc, weight, targets, w)
        ctx.dtype, ctx.chunk, ctx.hidden_dtype = dtype, chunk, hidden.dtype
        return total

    @staticmethod
    def backward(ctx, grad):
        hc, weight, targets, w = ctx.saved_tensors
        chunk = ctx.chunk
        with torch.autocast(hc.device.type, enabled=False):
            wc = weight.to(ctx.dtype)
            scale = w * grad.float()
            dh = torch.empty_like(hc)
            dw = torch.zeros(weight.shape, dtype=torch.float32, device=hc.device) if ctx.needs_input_grad[1] else None
            for s in range(0, hc.shape[0], chunk):
                rows = hc[s:s + chunk]
                # d/dlogits of -w * log_softmax[t] = w * (softmax - onehot(t)), in fp32 as log_softmax's backward.
                # One pass each: 16-bit logits to fp32 softmax, then scaled and rounded to 16 bits.
                probs = torch.softmax(rows @ wc.t(), dim=-1, dtype=torch.float32)
                probs.scatter_add_(1, targets[s:s + chunk, None], probs.new_full((rows.shape[0], 1), -1.0))
                dlogits = torch.mul(probs, scale[s:s + chunk, None], out=torch.empty_like(probs, dtype=ctx.dtype))
                dh[s:s + chunk] = dlogits @ wc
                if dw is not None:
                    dw += (dlogits.t() @ rows).float()
        return dh.to(ctx.hidden_dtype), (dw.to(weight.dtype) if dw is not None else None), None, None, None, None
