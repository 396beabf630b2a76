"""What the device experiment scripts (scripts/gpu_decode_*.py, gpu_gemv.py) share: one JSON line
per result, each experiment in its own try/except, a relative error, a CUDA-graph timer and an
on/off logits comparison. Imported from the scripts' folder (`python3 scripts/<name>.py` puts it
first on sys.path)."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable

import torch

from mambalign_runtime.bench import _card, _median
from mambalign_runtime.decoding import cache_states

T0 = time.time()


def emit(rec: dict, elapsed: bool = False) -> None:
    """Print rec as one JSON line, with the card (and the seconds since start when `elapsed`)."""
    head = {"card": _card(), **({"t_s": round(time.time() - T0, 1)} if elapsed else {})}
    print(json.dumps({**head, **rec}), flush=True)


def guarded(name: str, fn: Callable[[], object], reset: Callable[[], None] | None = None, **emit_kw) -> None:
    """Run one experiment; an error is reported as a line and the others go on. `reset` puts any
    switch the experiment set back to its default, whatever happened."""
    try:
        fn()
    except Exception as err:  # report and go on with the other experiments
        emit({"exp": name, "error": repr(err)[:400], "trace": traceback.format_exc()[-1500:]}, **emit_kw)
    finally:
        if reset is not None:
            reset()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a - b| / |b| in float64."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def graph_us(fn: Callable[[int], object], reps: int = 64) -> float:
    """Device microseconds per call: fn(0), ..., fn(reps - 1) captured in one CUDA graph, replayed
    (each i its own tensors, as each layer of a step has: nothing stays in L2 from the last call)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn(0)
        fn(1)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(reps):
            fn(i)
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / reps)
    return round(_median(times), 2)


def switch_logits(model, prompt: torch.Tensor, switch: Callable[[bool], None], steps: int) -> list[dict]:
    """Decode steps with a path off then on (`switch(on)`), from the same prefill and fed the same
    (off path's greedy) tokens: per step, the max abs logit difference, relative error and greedy
    agreement."""
    with torch.no_grad():
        out = model(input_ids=prompt, use_cache=True)
        cache = out.cache_params
        saved = [t.clone() for t in cache_states(cache)]
        runs, feeds = {}, None
        for on in (False, True):  # off first: its greedy tokens are fed to both
            switch(on)
            for t, s in zip(cache_states(cache), saved):
                t.copy_(s)
            ids = out.logits[:, -1].argmax(-1, keepdim=True)
            logits, fed = [], []
            for i in range(steps):
                feed = feeds[i] if feeds is not None else ids
                lg = model(input_ids=feed, cache_params=cache, use_cache=True).logits[:, -1].float()
                logits.append(lg)
                fed.append(feed)
                ids = lg.argmax(-1, keepdim=True)
            runs[on], feeds = logits, fed
    return [{"step": i, "max_abs_diff": (runs[True][i] - runs[False][i]).abs().max().item(),
             "rel_err": rel(runs[True][i], runs[False][i]), "logit_abs_mean": runs[False][i].abs().mean().item(),
             "argmax_equal_frac": (runs[True][i].argmax(-1) == runs[False][i].argmax(-1)).float().mean().item()}
            for i in range(steps)]
