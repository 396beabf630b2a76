"""Device experiment: the decode step with x_proj computed inside the conv update kernel
(decode.conv_xproj) against conv update + x_proj GEMM (MAMBALIGN_DECODE_FUSED_XPROJ=0), at the
2.8B shape with random bf16 weights, on one GPU, in one process.

  PYTHONPATH=. python3 scripts/gpu_decode_xproj.py [--what kernel,graph,logits,profile] [--budget-s 140]

Prints one JSON line per result (each experiment in its own try/except):
  - "kernel": per batch, the fused kernel per tile (TILES) against conv update + x_proj GEMM
    (each alone and both) in a CUDA graph of REPS launches (layer 0's weights), with the fused
    output's error against the GEMM's; "kernel_best": the fastest tile per batch;
  - "graph_step": the graphed decode step (GraphedDecoder, as `bench --what decode`) per batch,
    fused off, fused with the default tile, and fused with the batch's fastest tile;
  - "logits": teacher-forced decode steps, fused on vs off from the same prefill: max abs logit
    difference and greedy agreement per step;
  - "profile_decode": torch.profiler's kernel table of one eager step at batch 64, fused on and off.

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
from mambalign_runtime.bench import (_profile_record, build_model, decode_prompt,  # noqa: E402
                                     graphed_decode_step, profile_decode_step)
from mambalign_runtime.kernels import _launch  # noqa: E402
from mambalign_runtime.kernels.decode import conv_update, conv_xproj  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SWITCH = "MAMBALIGN_DECODE_FUSED_XPROJ"
REPS = 64  # launches per timed graph (one per layer of a step)
# name -> set_xproj_tile override; "row" tiles run at one row, "dot" tiles from XPROJ_DOT_FROM rows.
TILES = {
    "row_d32_s16": {"row_BLOCK_D": 32, "row_SUB_D": 16},
    "row_d64_s32": {"row_BLOCK_D": 64, "row_SUB_D": 32},
    "row_d64_s16": {"row_BLOCK_D": 64, "row_SUB_D": 16},
    "row_d128_s32": {"row_BLOCK_D": 128, "row_SUB_D": 32},
    "row_d256_s32": {"row_BLOCK_D": 256, "row_SUB_D": 32},
    "row_d64_s32_w8": {"row_BLOCK_D": 64, "row_SUB_D": 32, "row_num_warps": 8},
    "dot_b16_d64_s32": {"dot_BLOCK_D": 64, "dot_SUB_D": 32},
    "dot_b16_d128_s32": {"dot_BLOCK_D": 128, "dot_SUB_D": 32},
    "dot_b16_d128_s16": {"dot_BLOCK_D": 128, "dot_SUB_D": 16},
    "dot_b16_d256_s32": {"dot_BLOCK_D": 256, "dot_SUB_D": 32},
    "dot_b16_d512_s32": {"dot_BLOCK_D": 512, "dot_SUB_D": 32},
    "dot_b16_d128_s32_w8": {"dot_BLOCK_D": 128, "dot_SUB_D": 32, "dot_num_warps": 8},
    "dot_b32_d128_s32_w8": {"dot_BLOCK_B": 32, "dot_BLOCK_D": 128, "dot_SUB_D": 32, "dot_num_warps": 8},
    "dot_b64_d64_s32_w8": {"dot_BLOCK_B": 64, "dot_BLOCK_D": 64, "dot_SUB_D": 32, "dot_num_warps": 8},
    # below 16 rows too: is a 16-row dot (rows masked) better than one row per program there?
    "any_dot_b16_d128_s32": {"dot_from": 1, "dot_BLOCK_D": 128, "dot_SUB_D": 32},
    "any_dot_b16_d64_s32": {"dot_from": 1, "dot_BLOCK_D": 64, "dot_SUB_D": 32},
}
def log(rec: dict) -> None:
    emit(rec, elapsed=True)


def checked(name: str, fn) -> None:  # the defaults back after each experiment
    guarded(name, fn, reset=lambda: (_launch.set_xproj_tile(None), os.environ.__setitem__(SWITCH, "1")), elapsed=True)


def kernel_exp(model, batches, budget_s: float) -> dict:
    """Fused tiles vs conv update + x_proj GEMM on layer 0's shapes; returns batch -> best tile name."""
    mixer = model.backbone.layers[0].mixer
    w_conv = mixer.conv1d.weight.squeeze(1)
    bias = mixer.conv1d.bias
    w_x = mixer.x_proj.weight
    dim, E = w_conv.shape[0], w_x.shape[0]
    best = {}
    for b in batches:
        g = torch.Generator(DEVICE).manual_seed(b)
        # REPS copies of everything a layer reads (one per layer of a step)
        xs = [torch.randn(b, 2 * dim, device=DEVICE, generator=g).to(torch.bfloat16)[:, :dim] for _ in range(REPS)]
        x = xs[0]  # the strided half of in_proj's output, as the step hands it over
        states = [torch.randn(b, dim, 4, device=DEVICE, generator=g).to(torch.bfloat16) for _ in range(REPS)]
        state = states[0]
        wxs = [w_x.clone() for _ in range(REPS)]
        wcs = [w_conv.clone() for _ in range(REPS)]
        projs = [torch.zeros(b, E, device=DEVICE) for _ in range(REPS + 1)]
        proj, zero_next = projs[0], projs[1]
        xcs = [conv_update(xs[i], states[i].clone(), wcs[i], bias, True) for i in range(REPS)]
        base = {"conv_update": graph_us(lambda i: conv_update(xs[i], states[i], wcs[i], bias, True)),
                "x_proj_gemm": graph_us(lambda i: F.linear(xcs[i], wxs[i]))}
        base["conv_then_gemm"] = graph_us(lambda i: F.linear(conv_update(xs[i], states[i], wcs[i], bias, True), wxs[i]))
        log({"exp": "kernel", "batch": b, "path": "unfused", **{f"{k}_us": v for k, v in base.items()}})
        results = {}
        for name, tile in TILES.items():
            wanted = ("row", "any") if b < _launch.XPROJ_DOT_FROM else ("dot",)
            if not name.startswith(wanted) or time.time() - T0 > budget_s:
                continue
            try:
                _launch.set_xproj_tile(tile)
                s0 = state.clone()
                want_xc = conv_update(x, s0.clone(), w_conv, bias, True)
                s1 = s0.clone()
                proj.zero_()
                got_xc = conv_xproj(x, s1, w_conv, bias, True, w_x, proj, zero_next)
                want = F.linear(want_xc, w_x).float()
                err = {"xc_equal": bool(torch.equal(got_xc, want_xc)), "proj_rel_err": rel(proj, want),
                       "proj_bf16_equal_frac": (proj.to(torch.bfloat16) == want.to(torch.bfloat16)).float().mean().item()}
                us = graph_us(lambda i: conv_xproj(xs[i], states[i], wcs[i], bias, True, wxs[i], projs[i], projs[i + 1]))
                results[name] = us
                log({"exp": "kernel", "batch": b, "path": "fused", "tile": name, "fused_us": us,
                      "saved_vs_conv_then_gemm_us": round(base["conv_then_gemm"] - us, 2), **err})
            except Exception as err:
                log({"exp": "kernel", "batch": b, "tile": name, "error": repr(err)[:300]})
            finally:
                _launch.set_xproj_tile(None)
        if results:
            best[b] = min(results, key=results.get)
            log({"exp": "kernel_best", "batch": b, "tile": best[b], "fused_us": results[best[b]],
                  "conv_then_gemm_us": base["conv_then_gemm"]})
        del xs, states, wxs, wcs, projs, xcs
        torch.cuda.empty_cache()
    return best


def prompts(model, batch: int):
    return decode_prompt(model, batch, 16, DEVICE)


def graph_step(model, batch: int, path: str, tile: dict | None, tokens: int) -> None:
    os.environ[SWITCH] = "0" if path == "unfused" else "1"
    _launch.set_xproj_tile({"fuse_below": 1 << 30, **(tile or {})})  # fused means fused, at any batch
    step_s, decoder = graphed_decode_step(model, prompts(model, batch), tokens)
    log({"exp": "graph_step", "batch": batch, "path": path, "tile": tile, "graph_step_ms": round(step_s * 1e3, 3),
         "tokens_per_s": round(batch / step_s, 1)})
    del decoder


def logits_exp(model, batch: int, steps: int) -> None:
    """Fused on vs off (gpu_experiment.switch_logits); "on" fuses at any batch (the default rule
    runs the GEMM from 16 rows)."""
    _launch.set_xproj_tile({"fuse_below": 1 << 30})
    for rec in switch_logits(model, prompts(model, batch), lambda on: os.environ.__setitem__(SWITCH, "1" if on else "0"),
                             steps):
        log({"exp": "logits", "batch": batch, **rec})


def profile_step(model, batch: int, path: str) -> None:
    os.environ[SWITCH] = "0" if path == "unfused" else "1"
    rec = _profile_record(profile_decode_step(model, prompts(model, batch)), bench="profile_decode", batch=batch,
                          path=path)
    rec.pop("top_ops_self", None)
    rec.pop("top_ops_by_shape", None)
    log({"exp": "profile_decode", **rec})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", default="kernel,graph,logits,profile")
    ap.add_argument("--batches", default="1,64,256")
    ap.add_argument("--tokens", type=int, default=65)
    ap.add_argument("--logits-batches", default="64,1")
    ap.add_argument("--kernel-batches", default="1,8,64,256")
    ap.add_argument("--budget-s", type=float, default=140.0, help="skip what is left after this many seconds")
    ap.add_argument("--shape", default="mamba-2.8b")
    args = ap.parse_args()
    what = args.what.split(",") if DEVICE == "cuda" else ["logits"]
    batches = [int(x) for x in args.batches.split(",")]
    kernels.install("fast")
    model = build_model(args.shape, torch.device(DEVICE)).eval()
    log({"exp": "build", "dot_tile": _launch.XPROJ_TILE_DOT, "row_tile": _launch.XPROJ_TILE_ROW,
          "dot_from": _launch.XPROJ_DOT_FROM, "fuse_below": _launch.XPROJ_FUSE_BELOW})
    best: dict = {}

    def left() -> bool:
        return time.time() - T0 < args.budget_s

    if "kernel" in what:
        kb = [int(x) for x in args.kernel_batches.split(",")]
        checked("kernel", lambda: best.update(kernel_exp(model, kb, args.budget_s / 2)))
    for b in batches if "graph" in what else []:
        paths = [("unfused", None), ("fused", None)]
        if b in best:
            paths.append(("fused_best", TILES[best[b]]))
        for path, tile in paths:
            if left():
                checked(f"graph_step b{b} {path}", lambda b=b, path=path, tile=tile: graph_step(model, b, path, tile,
                                                                                                args.tokens))
    for b in [int(x) for x in args.logits_batches.split(",")] if "logits" in what else ():
        if left():
            checked(f"logits b{b}", lambda b=b: logits_exp(model, b, 4))
    for path in ("fused", "unfused") if "profile" in what else ():
        if left():
            checked(f"profile b64 {path}", lambda path=path: profile_step(model, 64, path))
    log({"exp": "done", "wall_s": round(time.time() - T0, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
