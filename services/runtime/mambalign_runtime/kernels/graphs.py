"""Greedy decode loop for transformers' Mamba replayed from one captured CUDA graph.

A decode step of a 64-layer Mamba is several hundred small kernel launches; at batch 1 their
launch and Python cost is larger than the step's memory traffic. The cache's conv and SSM
states are updated in place at fixed addresses (transformers allocates them once and copies
into them; our decode kernels write in place), so one step captures cleanly and replays.
"""

from __future__ import annotations

import torch


class GraphedGreedyDecoder:
    """Capture `model(ids, cache_params=cache)` + argmax once; `decode(n)` replays it n times.

    `cache` must come from a prefill of the same batch (`model(prompt, use_cache=True)`), and
    `first_ids` (batch, 1) is the token to feed first (the prefill's argmax). The capture's
    warm-up steps are undone, so decoding starts exactly from the prefill's states.
    """

    def __init__(self, model, cache, first_ids: torch.Tensor):
        if first_ids.device.type != "cuda":
            raise ValueError("GraphedGreedyDecoder needs CUDA tensors")
        self.model, self.cache = model, cache
        self.ids = first_ids.clone()
        states = [t for layer in cache.layers for t in (*layer.conv_states.values(), *layer.recurrent_states.values())
                  if t is not None]
        saved = [t.clone() for t in states]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.no_grad():
            for _ in range(2):  # warm-up: compiles kernels, settles allocations
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self._step()
        for t, s in zip(states, saved):
            t.copy_(s)
        self.ids.copy_(first_ids)

    def _step(self):
        logits = self.model(input_ids=self.ids, cache_params=self.cache, use_cache=True).logits
        self.ids.copy_(logits[:, -1].argmax(-1, keepdim=True))

    @torch.no_grad()
    def decode(self, n: int) -> torch.Tensor:
        """Feed the current token and append n greedy tokens; returns them (batch, n)."""
        out = torch.empty(self.ids.shape[0], n, dtype=self.ids.dtype, device=self.ids.device)
        for i in range(n):
            self.graph.replay()
            out[:, i : i + 1].copy_(self.ids)
        return out
