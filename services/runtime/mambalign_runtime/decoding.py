"""Batched recurrent decoding for Mamba on CUDA, one captured CUDA graph per batch.

Mamba decodes with a fixed-size state, so a decode step has static shapes: capture it once and
replay it, instead of paying several hundred kernel launches and Python per token. Sampling uses
the Gumbel-max trick (argmax of logits/T + Gumbel noise), which is an exact draw from
softmax(logits/T) and stays graph-safe (PyTorch's CUDA RNG advances its offset inside graphs).
"""

from __future__ import annotations

import torch

# How often the host checks whether every row has produced EOS (each check is a device sync).
EOS_CHECK_EVERY = 32


class GraphedDecoder:
    """Prefill `input_ids` (left-padded, with `attention_mask`), then decode up to n tokens.

    The first decode token comes from the prefill's last logits; each replay feeds the current
    token and writes the next one in place. The warm-up steps needed for capture are undone, so
    the output is exactly what eager decoding from the prefill would give.
    """

    def __init__(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, temperature: float):
        if input_ids.device.type != "cuda":
            raise ValueError("GraphedDecoder needs CUDA tensors")
        self.model, self.temperature = model, float(temperature)
        with torch.no_grad():
            out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=True)
        self.cache = out.cache_params
        self.ids = self._pick(out.logits[:, -1])[:, None].contiguous()
        first = self.ids.clone()
        states = [t for layer in self.cache.layers
                  for t in (*layer.conv_states.values(), *layer.recurrent_states.values()) if t is not None]
        saved = [t.clone() for t in states]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.no_grad():
            for _ in range(2):  # compile kernels and settle allocations before capture
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self._step()
        for t, s in zip(states, saved):
            t.copy_(s)
        self.ids.copy_(first)
        self.first = first

    def _pick(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.temperature > 0:
            u = torch.rand_like(logits).clamp_(min=1e-20)
            logits = logits / self.temperature - torch.log(-torch.log(u))
        return logits.argmax(-1)

    def _step(self):
        logits = self.model(input_ids=self.ids, cache_params=self.cache, use_cache=True).logits
        self.ids.copy_(self._pick(logits[:, -1])[:, None])

    @torch.no_grad()
    def generate(self, max_new_tokens: int, eos_token_id: int) -> torch.Tensor:
        """(batch, <= max_new_tokens) tokens, the first from the prefill; stops early once every row hit EOS."""
        batch = self.ids.shape[0]
        out = torch.empty(batch, max_new_tokens, dtype=self.ids.dtype, device=self.ids.device)
        out[:, :1].copy_(self.first)
        done = self.first[:, 0] == eos_token_id
        n = 1
        while n < max_new_tokens:
            self.graph.replay()
            out[:, n:n + 1].copy_(self.ids)
            done |= self.ids[:, 0] == eos_token_id
            n += 1
            if n % EOS_CHECK_EVERY == 0 and bool(done.all()):
                break
        return out[:, :n]


def graphed_decoding_available(model, device: torch.device, kernel_mode: str) -> bool:
    """The graph path needs CUDA, our in-place decode kernels, and a Mamba cache."""
    return device.type == "cuda" and kernel_mode == "fast" and getattr(model.config, "model_type", "") == "mamba"
