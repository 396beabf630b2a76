"""Device experiment: the decode step with each block's residual add and the next block's RMSNorm
as one kernel (norm.add_rms_norm, patch.model_forward) against the add and the norm apart
(MAMBALIGN_DECODE_FUSED_NORM=0), at the 2.8B shape with random bf16 weights, on one GPU, in one
process.

  PYTHONPATH=. python3 scripts/gpu_decode_fused.py [--what rounding,check,kernel,graph,profile] [--batches 1,64,256]

Prints one JSON line per result (each experiment in its own try/except):
  - "rounding": the norm kernels with bf16 rounded by the GPU's cvt.rn (HW_ROUND, the default on a GPU)
    against the integer emulation the CPU interpreter uses, on rows full of exact ties: bit-identical?
  - "check": 3 eager decode steps at batch 64 from the same prefill, fused on and off: the
    largest logit difference and whether logits and cache states are bit-identical (they should be);
  - "kernel": 64 launches (one per layer) of the fused kernel against 64 x (torch add + rms_norm),
    each captured in a CUDA graph, per batch: microseconds per layer;
  - "graph_step": the graphed decode step (GraphedDecoder, as `bench --what decode`) per batch, fused
    off and on, twice each in alternating order; "greedy": the graph's greedy tokens on vs off;
  - "profile_decode": torch.profiler's kernel table for one eager step at batch 64, fused on and off.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from gpu_experiment import emit, guarded

from mambalign_runtime import kernels
from mambalign_runtime.bench import (_median, _profile_record, _sync_time, build_model, decode_prompt,
                                     graphed_decode_step, profile_decode_step)
from mambalign_runtime.decoding import GraphedDecoder, cache_states

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a smoke run of "check" (interpreter, tiny shape)
SWITCH = "MAMBALIGN_DECODE_FUSED_NORM"


def fused(on: bool) -> None:
    os.environ[SWITCH] = "1" if on else "0"


def guarded_switch(name: str, fn) -> None:
    guarded(name, fn, lambda: fused(True))


def prompts(model, batch: int):
    return decode_prompt(model, batch, 16, DEVICE)


@torch.no_grad()
def check(model, batch: int = 64) -> None:
    out = model(input_ids=prompts(model, batch), use_cache=True)
    first = out.logits[:, -1].argmax(-1, keepdim=True)
    start = [t.clone() for t in cache_states(out.cache_params)]
    results = {}
    for on in (False, True):
        for dst, src in zip(cache_states(out.cache_params), start):
            dst.copy_(src)
        fused(on)
        ids, steps = first, []
        for _ in range(3):
            logits = model(input_ids=ids, cache_params=out.cache_params, use_cache=True).logits[:, -1]
            steps.append(logits.float())
            ids = logits.argmax(-1, keepdim=True)
        results[on] = (torch.stack(steps, 1), [t.clone() for t in cache_states(out.cache_params)])
    (off, off_states), (on_, on_states) = results[False], results[True]
    emit({"exp": "check", "batch": batch, "steps": 3, "logits_max_abs_diff": (on_ - off).abs().max().item(),
          "logits_identical": bool(torch.equal(on_, off)),
          "states_identical": all(torch.equal(a, b) for a, b in zip(on_states, off_states)),
          "states_max_abs_diff": max((a.float() - b.float()).abs().max().item()
                                     for a, b in zip(on_states, off_states))})


@torch.no_grad()
def rounding() -> None:
    """HW_ROUND True vs False in _rms_fwd_kernel and _add_rms_fwd_kernel: same bits expected."""
    import triton.language as tl

    from mambalign_runtime.kernels import norm

    g = torch.Generator(DEVICE).manual_seed(5)
    rows, hidden = 256, 2560
    x = torch.randn(rows, hidden, device=DEVICE, generator=g)
    # Half the elements exact bf16 ties (low 16 bits 0x8000), both parities of the kept bit.
    bits = x.view(torch.int32)
    tie = torch.rand(rows, hidden, device=DEVICE, generator=g) < 0.5
    x = torch.where(tie, ((bits & ~0xFFFF) | 0x8000).view(torch.float32), x)
    h = torch.randn(rows, hidden, device=DEVICE, generator=g).to(torch.bfloat16)
    w = (1 + 0.3 * torch.randn(hidden, device=DEVICE, generator=g)).to(torch.bfloat16)
    outs = {}
    for hw in (True, False):
        out = torch.empty(rows, hidden, dtype=torch.bfloat16, device=DEVICE)
        r = torch.empty(rows, device=DEVICE)
        norm._rms_fwd_kernel[(rows,)](x, w, out, r, out, hidden, 1e-5, *x.stride(), IN_DTYPE=tl.bfloat16, BLOCK_H=4096,
                                      HW_ROUND=hw, STORE_XR=False, num_warps=8)
        res, out2 = torch.empty_like(x), torch.empty(rows, hidden, dtype=torch.bfloat16, device=DEVICE)
        norm._add_rms_fwd_kernel[(rows,)](x, h, w, res, out2, hidden, 1e-5, hidden, hidden, HAS_H=True, WRITE_RES=True,
                                          SUM_DTYPE=tl.bfloat16, IN_DTYPE=tl.bfloat16, BLOCK_H=4096, HW_ROUND=hw,
                                          num_warps=8)
        outs[hw] = (out, r, res, out2)
    same = [bool(torch.equal(a, b)) for a, b in zip(outs[True], outs[False])]
    emit({"exp": "rounding", "rms_out": same[0], "rms_r": same[1], "add_res": same[2], "add_out": same[3],
          "ties_frac": tie.float().mean().item(),
          "bf16_of_ties_equal_torch": bool(torch.equal(outs[True][2], (x + h.float()).to(torch.bfloat16).float()))})


@torch.no_grad()
def kernel_exp(model, batch: int) -> None:
    """One layer's add + next norm, 64 times (as in a step), in a CUDA graph: fused vs apart."""
    from mambalign_runtime.kernels.norm import add_rms_norm, rms_norm

    norm = model.backbone.layers[1].norm
    hidden = norm.weight.shape[0]
    g = torch.Generator(DEVICE).manual_seed(batch)
    residual = torch.randn(batch, 1, hidden, device=DEVICE, generator=g)
    h = torch.randn(batch, 1, hidden, device=DEVICE, generator=g).to(torch.bfloat16)
    eps, wdt = norm.variance_epsilon, norm.weight.dtype

    def apart():  # the unfused step: torch's add, then the norm kernel
        for _ in range(64):
            rms_norm(residual + h, norm.weight, eps, wdt)

    def together():  # the fused step updates the residual in place
        for _ in range(64):
            add_rms_norm(residual, h, norm.weight, eps, wdt, torch.float32, res_out=residual)

    times = {}
    for name, fn in (("apart", apart), ("fused", together)):
        fn()
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        times[name] = _median(_sync_time(graph.replay, 20, 3)) / 64 * 1e6
    emit({"exp": "kernel", "batch": batch, "us_per_layer_apart": round(times["apart"], 2),
          "us_per_layer_fused": round(times["fused"], 2)})


def graph_step(model, batch: int, on: bool, tokens: int, rep: int, want_tokens: bool):
    fused(on)  # read while the step is captured
    prompt = prompts(model, batch)
    step_s, decoder = graphed_decode_step(model, prompt, tokens)
    emit({"exp": "graph_step", "batch": batch, "fused": on, "rep": rep, "graph_step_ms": round(step_s * 1e3, 3),
          "tokens_per_s": round(batch / step_s, 1)})
    del decoder
    if want_tokens:
        return GraphedDecoder(model, prompt, torch.ones_like(prompt), 0.0).generate(tokens, -1).cpu()
    return None


def profile_step(model, batch: int, on: bool) -> None:
    fused(on)
    prof = profile_decode_step(model, prompts(model, batch), record_shapes=True)
    rec = _profile_record(prof, bench="profile_decode", batch=batch, fused=on)
    rec.pop("top_ops_self", None)
    rec.pop("top_ops_by_shape", None)
    emit({"exp": "profile_decode", **rec})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", default="rounding,check,kernel,graph,profile")
    ap.add_argument("--batches", default="1,64,256")
    ap.add_argument("--tokens", type=int, default=65)
    ap.add_argument("--shape", default="mamba-2.8b")
    args = ap.parse_args()
    what = args.what.split(",")
    batches = [int(x) for x in args.batches.split(",")]
    t0 = time.time()
    kernels.install("fast")
    model = build_model(args.shape, torch.device(DEVICE)).eval()
    emit({"exp": "build", "wall_s": round(time.time() - t0, 1)})
    if "rounding" in what and DEVICE == "cuda":
        guarded_switch("rounding", rounding)
    if "check" in what:
        guarded_switch("check", lambda: check(model, 64 if DEVICE == "cuda" else 3))
    if DEVICE == "cpu":
        return 0
    for b in batches if "kernel" in what else []:
        guarded_switch(f"kernel b{b}", lambda b=b: kernel_exp(model, b))
    for b in batches if "graph" in what else []:
        def one(b=b):
            toks = {}
            for rep, order in enumerate(((False, True), (True, False))):
                for on in order:
                    got = graph_step(model, b, on, args.tokens, rep, rep == 0 and b == 64)
                    if got is not None:
                        toks[on] = got
            if toks:
                emit({"exp": "greedy", "batch": b, "identical": bool(torch.equal(toks[True], toks[False])),
                      "token_agreement": (toks[True] == toks[False]).float().mean().item()})
        guarded_switch(f"graph_step b{b}", one)
        emit({"exp": "elapsed", "wall_s": round(time.time() - t0, 1)})
    if "profile" in what:
        guarded_switch("profile b64 on", lambda: profile_step(model, 64, True))
        guarded_switch("profile b64 off", lambda: profile_step(model, 64, False))
    emit({"exp": "done", "wall_s": round(time.time() - t0, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
