"""Recurrent decoding for Mamba: a fixed batch of slots, one captured CUDA graph per decoder, and
continuous batching.

Mamba decodes with a fixed-size state, so a decode step has static shapes: capture it once and
replay it, instead of paying several hundred kernel launches and Python per token. And because
the state is fixed-size, a row that finishes frees its slot at once: `SlotDecoder` prefills the
next prompt and copies its conv and SSM states into that slot while the others go on, so the
batch stays full until the prompts run out (no batch waits for its longest row).

Sampling uses the Gumbel-max trick (argmax of logits/T + Gumbel noise), an exact draw from
softmax(logits/T) that stays graph-safe (PyTorch's CUDA RNG advances its offset inside graphs);
each slot carries its own temperature (0 = greedy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# How often (in steps) the host looks at the new tokens: finished rows, refills. Each look is a
# device sync; a row that ends between looks idles in its slot for the rest of the interval.
EOS_CHECK_EVERY = 32


def pick_tokens(logits: torch.Tensor, temperature: torch.Tensor, sampling: bool) -> torch.Tensor:
    """Next token per row: greedy where temperature is 0, a softmax(logits/T) draw elsewhere."""
    logits = logits.float()
    greedy = logits.argmax(-1)
    if not sampling:
        return greedy
    u = torch.rand_like(logits).clamp_(min=1e-20)
    drawn = (logits / temperature.clamp(min=1e-6)[:, None] - torch.log(-torch.log(u))).argmax(-1)
    return torch.where(temperature > 0, drawn, greedy)


def cache_states(cache) -> list[torch.Tensor]:
    """The per-layer conv and SSM state tensors of a transformers Mamba cache, in a fixed order."""
    return [t for layer in cache.layers
            for t in (*layer.conv_states.values(), *layer.recurrent_states.values()) if t is not None]


def capture_step(step: Callable[[], None], keep: list[torch.Tensor]) -> torch.cuda.CUDAGraph:
    """A CUDA graph of `step`. The warm-up runs needed for capture are undone on `keep` (the
    states and current tokens), so replays continue exactly from where eager decoding would."""
    saved = [t.clone() for t in keep]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.no_grad():
        for _ in range(2):  # compile kernels and settle allocations before capture
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        step()
    for t, s in zip(keep, saved):
        t.copy_(s)
    return graph


class GraphedDecoder:
    """Prefill one left-padded batch (`input_ids`, `attention_mask`), then decode up to n tokens
    for all its rows with one captured step (the decode benchmark's fixed batch)."""

    def __init__(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, temperature: float):
        if input_ids.device.type != "cuda":
            raise ValueError("GraphedDecoder needs CUDA tensors")
        self.model = model
        self.temperature = torch.full((input_ids.shape[0],), float(temperature), device=input_ids.device)
        self.sampling = temperature > 0
        with torch.no_grad():
            out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=True)
        self.cache = out.cache_params
        self.ids = pick_tokens(out.logits[:, -1], self.temperature, self.sampling)[:, None].contiguous()
        self.first = self.ids.clone()
        self.graph = capture_step(self._step, [*cache_states(self.cache), self.ids])

    def _step(self):
        logits = self.model(input_ids=self.ids, cache_params=self.cache, use_cache=True).logits
        self.ids.copy_(pick_tokens(logits[:, -1], self.temperature, self.sampling)[:, None])

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


@dataclass(frozen=True)
class Prompt:
    ids: list[int]
    temperature: float
    max_new_tokens: int


class SlotDecoder:
    """Continuous batching over `slots` rows: every prompt gets the tokens it would get decoded
    alone (up to its max_new_tokens, cut before the first EOS). The step is a CUDA graph when
    `graphed` (CUDA + our decode kernels), else eager (CPU, reference kernels)."""

    def __init__(self, model, slots: int, eos_token_id: int, pad_token_id: int, device: torch.device,
                 graphed: bool, check_every: int = EOS_CHECK_EVERY):
        if slots < 1:
            raise ValueError("SlotDecoder: slots must be >= 1")
        self.model, self.slots, self.eos, self.pad = model, slots, eos_token_id, pad_token_id
        self.device, self.graphed, self.check_every = device, graphed, check_every

    @torch.no_grad()
    def run(self, prompts: list[Prompt], on_finished: Callable[[int, list[int]], None] | None = None) -> list[list[int]]:
        """New tokens per prompt (in the prompts' order). Prompts are taken shortest first, so each
        prefill pads little; `on_finished(index, tokens)` is called as rows finish."""
        results: list[list[int] | None] = [None] * len(prompts)
        if not prompts:
            return []
        pending = sorted(range(len(prompts)), key=lambda i: len(prompts[i].ids))
        pending.reverse()  # pop() takes the shortest
        # As few slots as give the same number of rounds when every row runs to its cap (805
        # prompts on 256 slots: 4 rounds either way, on 202 slots each step is cheaper).
        rounds = -(-len(prompts) // self.slots)
        slots = -(-len(prompts) // rounds)
        self.sampling = any(p.temperature > 0 for p in prompts)
        first = [pending.pop() for _ in range(slots)]
        cache, logits = self._prefill([prompts[i] for i in first])
        self.cache = cache
        self.temperature = torch.tensor([prompts[i].temperature for i in first], device=self.device)
        self.ids = pick_tokens(logits, self.temperature, self.sampling)[:, None].contiguous()
        row = list(first)                           # prompt index per slot (-1: idle)
        tokens = [[int(t)] for t in self.ids[:, 0].tolist()]
        graph = capture_step(self._step, [*cache_states(cache), self.ids]) if self.graphed else None
        history = torch.empty(slots, self.check_every, dtype=self.ids.dtype, device=self.device)

        def finish_done() -> list[int]:
            """Close every slot whose row is complete; returns the freed slots."""
            freed = []
            for s, i in enumerate(row):
                if i < 0:
                    continue
                toks, limit = tokens[s], prompts[i].max_new_tokens
                cut = toks.index(self.eos) if self.eos in toks[:limit] else None
                if cut is not None or len(toks) >= limit:
                    results[i] = toks[:cut if cut is not None else limit]
                    if on_finished:
                        on_finished(i, results[i])
                    row[s] = -1
                    freed.append(s)
            return freed

        free = finish_done()
        while True:
            # Refill freed slots (all at once when the batch has emptied, else in groups so a
            # prefill, which runs eagerly, is not paid for every single row).
            while pending and free and (len(free) >= min(max(1, slots // 8), len(pending)) or all(i < 0 for i in row)):
                take = free[:len(pending)]
                group = [pending.pop() for _ in take]
                self._refill(take, [prompts[i] for i in group])
                for s, i, t in zip(take, group, self.ids[take, 0].tolist()):
                    row[s], tokens[s] = i, [int(t)]
                free = [s for s in free if s not in take] + finish_done()
            active = [s for s, i in enumerate(row) if i >= 0]
            if not active:
                break
            n = min(self.check_every, min(prompts[row[s]].max_new_tokens - len(tokens[s]) for s in active))
            for j in range(n):
                if graph is not None:
                    graph.replay()
                else:
                    self._step()
                history[:, j].copy_(self.ids[:, 0])
            new = history[:, :n].tolist()
            for s in active:
                tokens[s].extend(new[s])
            free = [s for s, i in enumerate(row) if i < 0] + finish_done()
        return results  # type: ignore[return-value]

    def _prefill(self, group: list[Prompt]):
        """(cache, last logits) of a left-padded batch of prompts."""
        width = max(len(p.ids) for p in group)
        input_ids = torch.full((len(group), width), self.pad, dtype=torch.long)
        attention = torch.zeros((len(group), width), dtype=torch.long)
        for r, p in enumerate(group):
            input_ids[r, width - len(p.ids):] = torch.tensor(p.ids)
            attention[r, width - len(p.ids):] = 1
        out = self.model(input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), use_cache=True)
        return out.cache_params, out.logits[:, -1]

    def _refill(self, slots: list[int], group: list[Prompt]) -> None:
        """Prefill `group` and put its states, temperatures and first tokens into `slots`, in place
        (the captured graph reads these same tensors)."""
        cache, logits = self._prefill(group)
        index = torch.tensor(slots, device=self.device)
        for dst, src in zip(cache_states(self.cache), cache_states(cache)):
            dst.index_copy_(0, index, src.to(dst.dtype))
        temperature = torch.tensor([p.temperature for p in group], device=self.device)
        self.temperature.index_copy_(0, index, temperature)
        self.ids.index_copy_(0, index, pick_tokens(logits, temperature, self.sampling)[:, None])

    def _step(self):
        logits = self.model(input_ids=self.ids, cache_params=self.cache, use_cache=True).logits
        self.ids.copy_(pick_tokens(logits[:, -1], self.temperature, self.sampling)[:, None])


def graphed_decoding_available(model, device: torch.device, kernel_mode: str) -> bool:
    """The graph path needs CUDA, our in-place decode kernels, and a Mamba cache."""
    return device.type == "cuda" and kernel_mode == "fast" and getattr(model.config, "model_type", "") == "mamba"
