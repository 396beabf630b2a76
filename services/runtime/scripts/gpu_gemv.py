"""Device experiment: matrix-vector products for the decode step (gemv.gemv) against cuBLAS, and
the decode step with its out_proj as gemv at one row against cuBLAS (MAMBALIGN_DECODE_GEMV=0), at
the 2.8B shape with random bf16 weights, on one GPU, in one process.

  PYTHONPATH=. python3 scripts/gpu_gemv.py [--what kernel,graph,logits,profile] [--budget-s 200]

Prints one JSON line per result (each experiment in its own try/except):
  - "kernel": per (N, K) of in_proj, out_proj and lm_head and per row count, F.linear and each
    gemv tile (TILES) in a CUDA graph of one call per layer (each its own weight, so nothing is
    served from L2), with GB/s of weight read and the error against F.linear; "kernel_best": the
    fastest tile per (N, K, rows);
  - "graph_step": the graphed decode step per batch with cuBLAS, gemv with the default tile and
    with out_proj's best tile from "kernel" (gemv at any batch asked here);
  - "logits": teacher-forced decode steps at batch 1, gemv on vs off;
  - "replay_profile": torch.profiler over graph replays at batch 1 (cuBLAS and gemv): per kernel
    the device time per step, and the step's span against the sum of its kernels (the gaps);
  - "pdl": the graphed step per batch with the decode kernels' programmatic dependent launch off and
    on (MAMBALIGN_DECODE_PDL), interleaved, and the logits of teacher-forced steps on vs off (the
    same kernels: they must be equal);
  - "in_proj": "graph_step" at b1 with in_proj as gemv per tile (IN_PROJ_TILES) against cuBLAS,
    three interleaved rounds, and the logits of teacher-forced steps with it on vs off.

Without CUDA only "logits" runs (Triton's CPU interpreter: a smoke run, e.g. --shape mamba-tiny).
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
from gpu_experiment import T0, emit, graph_us, guarded, rel, switch_logits

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before the kernels are defined

from mambalign_runtime import kernels  # noqa: E402
from mambalign_runtime.bench import build_model, decode_prompt, graphed_decode_step  # noqa: E402
from mambalign_runtime.kernels import _launch  # noqa: E402
from mambalign_runtime.kernels.gemv import gemv  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SWITCH = "MAMBALIGN_DECODE_GEMV"
# Call 1 (KERNELS.md "Round 8") also tried K unrolled at compile time: it lost for out_proj.
TILES = {f"n{n}_k{k}_w{w}": {"BLOCK_N": n, "BLOCK_K": k, "num_warps": w}
         for n, k, w in ((4, 1024, 4), (8, 512, 4), (16, 256, 4), (2, 1024, 2), (2, 2048, 4), (4, 512, 2),
                         (4, 1024, 2), (4, 2048, 4), (4, 2048, 8), (8, 1024, 4), (2, 2048, 8), (8, 256, 2),
                         (16, 128, 2), (8, 512, 2), (1, 2048, 2), (16, 256, 2), (8, 256, 4), (16, 512, 4))}

# in_proj tiles for the graphed step: the best alone in call 2 (n16_k256_w4) and its neighbours.
IN_PROJ_TILES = ("n16_k256_w4", "n16_k256_w2", "n8_k256_w4", "n16_k512_w4", "n4_k512_w2")


def log(rec: dict) -> None:
    emit(rec, elapsed=True)


def checked(name: str, fn) -> None:  # the defaults back after each experiment
    guarded(name, fn, reset=lambda: (_launch.set_gemv(None), os.environ.__setitem__(SWITCH, "1")), elapsed=True)


def kernel_exp(shapes, rows_list, budget_s: float) -> dict:
    """gemv tiles vs F.linear; returns (n, k, rows) -> best tile name."""
    best = {}
    for n, k, layers in shapes:
        g = torch.Generator(DEVICE).manual_seed(n + k)
        ws = [torch.randn(n, k, device=DEVICE, generator=g).to(torch.bfloat16) * 0.02 for _ in range(layers)]
        for m in rows_list if layers > 4 else rows_list[:1]:  # lm_head: the first row count only
            xs = [torch.randn(m, k, device=DEVICE, generator=g).to(torch.bfloat16) for _ in range(layers)]
            gbytes = n * k * 2 / 1e9
            torch_us = graph_us(lambda i: F.linear(xs[i], ws[i]), layers)
            log({"exp": "kernel", "n": n, "k": k, "rows": m, "tile": "cublas", "us": torch_us,
                 "GB_per_s": round(gbytes / torch_us * 1e6, 1)})
            want = F.linear(xs[0], ws[0]).float()
            results = {}
            for name, tile in TILES.items():
                if time.time() - T0 > budget_s:
                    break
                try:
                    got = gemv(xs[0], ws[0], tile).float()
                    us = graph_us(lambda i: gemv(xs[i], ws[i], tile), layers)
                    results[name] = us
                    log({"exp": "kernel", "n": n, "k": k, "rows": m, "tile": name, "us": us,
                         "GB_per_s": round(gbytes / us * 1e6, 1), "vs_cublas": round(torch_us / us, 3),
                         "rel_err": rel(got, want)})
                except Exception as err:
                    log({"exp": "kernel", "n": n, "k": k, "rows": m, "tile": name, "error": repr(err)[:300]})
            if results:
                name = min(results, key=results.get)
                best[(n, k, m)] = name
                log({"exp": "kernel_best", "n": n, "k": k, "rows": m, "tile": name, "us": results[name],
                     "cublas_us": torch_us, "vs_cublas": round(torch_us / results[name], 3)})
        del ws
        torch.cuda.empty_cache()
    return best


def graph_step(model, batch: int, path: str, tile: dict | None, tokens: int, **rec) -> None:
    """The graphed step with cuBLAS (`path` "cublas") or gemv, `tile` (set_gemv keys) over the defaults."""
    os.environ[SWITCH] = "0" if path == "cublas" else "1"
    _launch.set_gemv({"below": 1 << 30, **(tile or {})})
    step_s, decoder = graphed_decode_step(model, decode_prompt(model, batch, 16, DEVICE), tokens)
    log({"exp": "graph_step", **rec, "batch": batch, "path": path, "tile": _launch.gemv_tile(),
         "in_proj_tile": _launch.gemv_tile("in_proj"), "graph_step_ms": round(step_s * 1e3, 3),
         "tokens_per_s": round(batch / step_s, 1)})
    del decoder


def pdl_exp(model, batches, tokens: int) -> None:
    for rnd in range(2):
        for b in batches:
            for on in ("0", "1"):
                os.environ["MAMBALIGN_DECODE_PDL"] = on
                step_s, decoder = graphed_decode_step(model, decode_prompt(model, b, 16, DEVICE), tokens)
                log({"exp": "pdl", "round": rnd, "batch": b, "pdl": on == "1", "graph_step_ms": round(step_s * 1e3, 3),
                     "tokens_per_s": round(b / step_s, 1)})
                del decoder
    for b in batches:
        for rec in switch_logits(model, decode_prompt(model, b, 16, DEVICE),
                                 lambda on: os.environ.__setitem__("MAMBALIGN_DECODE_PDL", "1" if on else "0"), 3):
            log({"exp": "pdl_logits", "batch": b, **rec})
    os.environ["MAMBALIGN_DECODE_PDL"] = "0"


def in_proj_exp(model, tokens: int) -> None:
    """The graphed b1 step: cuBLAS for both projections, gemv for out_proj only, and gemv for both
    with each in_proj tile (IN_PROJ_TILES), interleaved; then the logits of teacher-forced steps
    with in_proj as gemv (default tile) vs cuBLAS."""
    paths = {"cublas": None, "gemv_out_proj": {"in_proj": False}}
    for name in IN_PROJ_TILES:
        paths[f"gemv_in_proj_{name}"] = {f"in_proj_{k}": v for k, v in TILES[name].items()}
    for rnd in range(3):
        for name, override in paths.items():
            graph_step(model, 1, name, override, tokens, round=rnd)
    os.environ[SWITCH] = "1"
    for rec in switch_logits(model, decode_prompt(model, 1, 16, DEVICE),
                             lambda on: _launch.set_gemv(None if on else {"in_proj": False}), 4):
        log({"exp": "in_proj_logits", "batch": 1, **rec})


def replay_profile(model, path: str, replays: int = 4) -> None:
    """Kernels of `replays` graph replays at batch 1: device time per step by kernel, busy vs span."""
    from torch.profiler import ProfilerActivity, profile

    os.environ[SWITCH] = "0" if path == "cublas" else "1"
    _launch.set_gemv(None)
    _, decoder = graphed_decode_step(model, decode_prompt(model, 1, 16, DEVICE), 8)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        decoder.generate(replays + 1, -1)
        torch.cuda.synchronize()
    ev = sorted((e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA),
                key=lambda e: e.time_range.start)
    if not ev:
        log({"exp": "replay_profile", "path": path, "error": "no CUDA events"})
        return
    by = {}
    for e in ev:
        by.setdefault(e.name[:70], [0.0, 0])
        by[e.name[:70]][0] += e.time_range.elapsed_us()
        by[e.name[:70]][1] += 1
    busy = sum(e.time_range.elapsed_us() for e in ev)
    span = ev[-1].time_range.end - ev[0].time_range.start
    top = sorted(by.items(), key=lambda kv: -kv[1][0])[:20]
    log({"exp": "replay_profile", "path": path, "replays": replays, "kernels": len(ev),
         "busy_ms_per_step": round(busy / replays / 1e3, 3), "span_ms_per_step": round(span / replays / 1e3, 3),
         "top": [[name, round(t / replays, 1), c // replays] for name, (t, c) in top]})
    del decoder


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", default="kernel,graph,logits,profile")
    ap.add_argument("--batches", default="1,2,4")
    ap.add_argument("--rows", default="1,2,4")
    ap.add_argument("--tokens", type=int, default=65)
    ap.add_argument("--budget-s", type=float, default=200.0, help="skip what is left after this many seconds")
    ap.add_argument("--shape", default="mamba-2.8b")
    ap.add_argument("--shapes", type=int, default=3, help="kernel: the first n of out_proj, in_proj, lm_head")
    args = ap.parse_args()
    what = args.what.split(",") if DEVICE == "cuda" else ["logits"]
    kernels.install("fast")
    model = build_model(args.shape, torch.device(DEVICE)).eval()
    cfg = model.config
    d, h = cfg.intermediate_size, cfg.hidden_size
    log({"exp": "build", "gemv_below": _launch.GEMV_BELOW, "tile": _launch.GEMV_TILE})
    best: dict = {}

    def left() -> bool:
        return time.time() - T0 < args.budget_s

    if "kernel" in what:
        shapes = [(h, d, 64), (2 * d, h, 64), (cfg.vocab_size, h, 4)][:args.shapes]
        rows = [int(x) for x in args.rows.split(",")]
        checked("kernel", lambda: best.update(kernel_exp(shapes, rows, args.budget_s * 0.6)))
    for b in [int(x) for x in args.batches.split(",")] if "graph" in what else ():
        paths = [("cublas", None), ("gemv_default", None)]
        if (h, d, b) in best:
            paths.append(("gemv_best", TILES[best[(h, d, b)]]))
        for path, tile in paths:
            if left():
                checked(f"graph_step b{b} {path}", lambda b=b, path=path, tile=tile: graph_step(model, b, path, tile,
                                                                                                args.tokens))
    if "logits" in what and left():
        def logits() -> None:
            _launch.set_gemv({"below": 1 << 30})
            for rec in switch_logits(model, decode_prompt(model, 1, 16, DEVICE),
                                     lambda on: os.environ.__setitem__(SWITCH, "1" if on else "0"), 4):
                log({"exp": "logits", "batch": 1, **rec})
        checked("logits", logits)
    if "pdl" in what:
        checked("pdl", lambda: pdl_exp(model, [int(x) for x in args.batches.split(",")], args.tokens))
    if "in_proj" in what:
        checked("in_proj", lambda: in_proj_exp(model, args.tokens))
    for path in ("cublas", "gemv") if "profile" in what else ():
        if left():
            checked(f"replay_profile {path}", lambda path=path: replay_profile(model, path))
    log({"exp": "done", "wall_s": round(time.time() - T0, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
