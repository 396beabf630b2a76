"""The training loss's numerator: summed, weighted next-token negative log-likelihood.

SFT's step and `bench`'s train step both call `next_token_nll`, so the two do the same GPU work
at the same micro-batch and their tokens/s compare directly.

The lm_head and the cross-entropy run over chunks of `CHUNK_TOKENS` positions: a chunk's logits
are made in the dtype the lm_head would use (autocast's), turned into fp32 log-probabilities, the
targets' picked, turned into their gradient (the loss is the last operation: no need to wait for
the backward), and dropped. The plain computation keeps (batch, seq, vocab) fp32 logits, their
log-softmax and gradients (2.8B shape, 4 x 2048 tokens, 50,280 vocabulary: 1.6 GB each) from
the forward to the backward; this keeps dh (batch x seq x hidden, 16-bit) and makes one chunk's at a time.

No attention mask goes to the model: rows are right-padded and Mamba is causal, so padding never
reaches a scored position (padded positions have weight 0); the mask would only add (b, L, d)
multiplies to every layer, forward and backward.
"""

from __future__ import annotations

import torch
from torch import nn

# Rows of logits made at once: 4,096 x 50,280 fp32 is 0.8 GB (the whole 8,192-row step's: 1.6 GB,
# kept to the backward by the plain computation along with its log-softmax and their gradients).
CHUNK_TOKENS = 4096


def next_token_nll(model, input_ids: torch.Tensor, weights: torch.Tensor, head: nn.Module | None = None,
                   scale: float = 1.0) -> torch.Tensor:
    """scale * sum over (row, t) of weights[row, t] * -log p(input_ids[row, t+1] | input_ids[row, :t+1]), fp32.

    `weights` is (batch, seq-1); `model` is a causal LM (PEFT or DDP wrappers allowed), `head` its
    output embedding (found on `model` when not given). `scale` (the step's 1 / token count) is
    applied before the gradient is rounded to 16 bits, as autograd applies the loss's."""
    head = head if head is not None else _output_head(model)
    weights = weights.float() * scale
    device = input_ids.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else head.weight.dtype
    # float16 needs the gradient scaler's factor before its rounding (or small gradients flush to
    # zero), and that factor only comes with the backward: the full logits there.
    if type(head) is not nn.Linear or head.bias is not None or dtype == torch.float16:
        return plain_next_token_nll(model, input_ids, weights)
    hidden = model(input_ids=input_ids, logits_to_keep=1, output_hidden_states=True).hidden_states[-1]
    b, seq, width = hidden.shape
    # Every position is scored, the last with weight 0: the rows stay whole, so no slice copies.
    targets = torch.cat([input_ids[:, 1:], input_ids[:, :1]], dim=1).reshape(-1)
    w = torch.cat([weights, weights.new_zeros(b, 1)], dim=1).reshape(-1)
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
    autocast would), the softmax in fp32; at most `chunk` rows of logits exist at once.

    The loss is a step's last operation, so its gradient is made in the same pass as the loss
    (w * (softmax - onehot) is known once the log-probabilities are): each chunk's logits are
    made once, and the backward only scales dh (and dW) by the incoming gradient."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, w, dtype, chunk):
        want_dh, want_dw = hidden.requires_grad, weight.requires_grad
        with torch.autocast(hidden.device.type, enabled=False):
            hc, wc = hidden.to(dtype), weight.to(dtype)
            total = torch.zeros((), dtype=torch.float32, device=hc.device)
            dh = torch.empty_like(hc) if want_dh else None
            dw = torch.zeros(weight.shape, dtype=torch.float32, device=hc.device) if want_dw else None
            for s in range(0, hc.shape[0], chunk):
                rows, t, ws = hc[s:s + chunk], targets[s:s + chunk, None], w[s:s + chunk, None]
                # 16-bit logits to fp32 log-probabilities in one pass (the plain path's log_softmax of .float()).
                logps = torch.log_softmax(rows @ wc.t(), dim=-1, dtype=torch.float32)
                total -= (ws * logps.gather(1, t)).sum()
                if want_dh or want_dw:
                    # d/dlogits of -w * log_softmax[t] = w * (softmax - onehot(t)), in fp32 as
                    # log_softmax's backward; rounded to 16 bits for the GEMMs, as autocast's.
                    probs = logps.exp_()
                    probs.scatter_add_(1, t, probs.new_full(t.shape, -1.0))
                    dlogits = torch.mul(probs, ws, out=torch.empty_like(probs, dtype=dtype))
                    if want_dh:
                        dh[s:s + chunk] = dlogits @ wc
                    if want_dw:
                        dw += (dlogits.t() @ rows).float()
        ctx.save_for_backward(dh, dw)
        ctx.dtypes = hidden.dtype, weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad):
        dh, dw = ctx.saved_tensors
        hidden_dtype, weight_dtype = ctx.dtypes
        grad = grad.float()
        return (None if dh is None else (dh.float() * grad).to(hidden_dtype),
                None if dw is None else (dw * grad).to(weight_dtype), None, None, None, None)
