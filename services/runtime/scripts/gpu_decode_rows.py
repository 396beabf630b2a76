"""Device experiment: the decode state update with row blocks (kernels/decode.py) against one row
per program, at the 2.8B shape with random bf16 weights, on one GPU, in one process.

  PYTHONPATH=. python3 scripts/gpu_decode_rows.py [--batches 1,8,64,202,256] [--tokens 65]

Prints one JSON line per result (each experiment in its own try/except):
  - "kernel": the state update alone on one layer's shape (weights from layer 0) per tile and
    batch: microseconds per call, and its output and state against the per-row kernel;
  - "graph_step": the graphed decode step (GraphedDecoder, as `bench --what decode`) per batch,
    per-row kernel vs row blocks, with the greedy tokens of the two compared;
  - "profile_decode": torch.profiler's kernel times for one eager decode step (batch 256 and 1);
  - "prefill": a 16-token prefill's wall time against its device time (batch 1 and 64).
"""

from __future__ import annotations

import argparse
import json
import time
import traceback

import torch

from mambalign_runtime import kernels
from mambalign_runtime.bench import _card, _median, _profile_record, _sync_time, build_model
from mambalign_runtime.decoding import GraphedDecoder
from mambalign_runtime.kernels import _launch
from mambalign_runtime.kernels.decode import state_update

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a smoke run of the kernel part (interpreter)
PER_ROW = {"from_batch": 0}
TILES = {  # name -> forced tile (from_batch 1: row blocks at every batch)
    "b16d16w4": {"from_batch": 1, "BLOCK_B": 16, "BLOCK_D": 16, "num_warps": 4},
    "b16d16w8": {"from_batch": 1, "BLOCK_B": 16, "BLOCK_D": 16, "num_warps": 8},
    "b16d32w8": {"from_batch": 1, "BLOCK_B": 16, "BLOCK_D": 32, "num_warps": 8},
    "b32d16w8": {"from_batch": 1, "BLOCK_B": 32, "BLOCK_D": 16, "num_warps": 8},
    "b16d32w16": {"from_batch": 1, "BLOCK_B": 16, "BLOCK_D": 32, "num_warps": 16},
}


def emit(rec: dict) -> None:
    print(json.dumps({"card": _card(), **rec}), flush=True)


def guarded(name: str, fn) -> None:
    try:
        fn()
    except Exception as err:  # report and go on with the other experiments
        emit({"exp": name, "error": repr(err)[:400], "trace": traceback.format_exc()[-1200:]})
    finally:
        _launch.set_decode_tile(None)
        torch.cuda.empty_cache()


def rel(a, b) -> float:
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def kernel_exp(model, batches) -> dict:
    """Per tile and batch: µs per state update and its agreement with the per-row kernel."""
    mixer = model.backbone.layers[0].mixer
    w, bias, A_log, D = mixer.dt_proj.weight, mixer.dt_proj.bias, mixer.A_log, mixer.D
    dim, n, rank = A_log.shape[0], A_log.shape[1], w.shape[1]
    best = {}
    for b in batches:
        g = torch.Generator(DEVICE).manual_seed(b)
        r = lambda *s, dt=torch.bfloat16: torch.randn(*s, device=DEVICE, generator=g).to(dt)  # noqa: E731
        # Activations as the decode step hands them over: x_proj's output split (strided views).
        xproj = r(b, rank + 2 * n)
        ts, B, C = torch.split(xproj, [rank, n, n], -1)
        xz = r(b, 2 * dim)
        x, z = xz.chunk(2, -1)
        x = x.contiguous()
        state0 = r(b, dim, n, dt=torch.float32)
        outs = {}
        for name, tile in {"per_row": PER_ROW, **TILES}.items():
            _launch.set_decode_tile(tile)
            state = state0.clone()
            y = state_update(state, x, ts, A_log, B, C, D, z, bias, True, A_is_log=True, dt_weight=w)
            outs[name] = (y, state)
            scratch = state0.clone()
            t = _median(_sync_time(lambda: [state_update(scratch, x, ts, A_log, B, C, D, z, bias, True, A_is_log=True,
                                                         dt_weight=w) for _ in range(20)], 5, 2)) / 20
            rec = {"exp": "kernel", "batch": b, "tile": name, "us": round(t * 1e6, 2),
                   "state_gbs": round(2 * state0.numel() * 4 / t / 1e9, 1)}
            if name != "per_row":
                y0, s0 = outs["per_row"]
                rec.update({"y_rel_err": rel(y, y0), "state_rel_err": rel(state, s0),
                            "y_equal_frac": (y == y0).float().mean().item(),
                            "state_max_abs": (state - s0).abs().max().item()})
            emit(rec)
            if name != "per_row" and (b not in best or t < best[b][1]):
                best[b] = (name, t)
        _launch.set_decode_tile(None)
    return {b: name for b, (name, _) in best.items()}


def graph_step(model, batch: int, tile: dict | None, tokens: int, label: str):
    _launch.set_decode_tile(tile)
    prompt = torch.randint(0, model.config.vocab_size, (batch, 16), device="cuda",
                           generator=torch.Generator("cuda").manual_seed(2))
    decoder = GraphedDecoder(model, prompt, torch.ones_like(prompt), 0.0)
    decoder.generate(4, -1)
    # Fresh decoder for the timed runs would re-capture; replaying continues from the state: fine for timing.
    t = _median(_sync_time(lambda: decoder.generate(tokens, -1), 3, 0))
    steps = tokens - 1
    toks = GraphedDecoder(model, prompt, torch.ones_like(prompt), 0.0).generate(tokens, -1)
    emit({"exp": "graph_step", "batch": batch, "path": label, "graph_step_ms": round(t / steps * 1e3, 3),
          "tokens_per_s": round(batch * steps / t, 1)})
    del decoder
    return toks.cpu()


def profile_step(model, batch: int, tile: dict | None, label: str) -> None:
    from torch.profiler import ProfilerActivity, profile

    _launch.set_decode_tile(tile)
    prompt = torch.randint(0, model.config.vocab_size, (batch, 16), device="cuda",
                           generator=torch.Generator("cuda").manual_seed(2))
    with torch.no_grad():
        out = model(input_ids=prompt, use_cache=True)
        ids = out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(2):
            ids = model(input_ids=ids, cache_params=out.cache_params, use_cache=True).logits[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
            model(input_ids=ids, cache_params=out.cache_params, use_cache=True).logits[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
    rec = _profile_record(prof, bench="profile_decode", batch=batch, path=label)
    rec.pop("top_ops_self", None)
    emit({"exp": "profile_decode", **rec})


def prefill_exp(model, batch: int) -> None:
    """A 16-token prefill (what the anchor side by side counts in each decode figure): wall time
    against the device time the profiler sees, i.e. how much of it is the host launching kernels."""
    from torch.profiler import ProfilerActivity, profile

    prompt = torch.randint(0, model.config.vocab_size, (batch, 16), device=DEVICE,
                           generator=torch.Generator(DEVICE).manual_seed(3))

    def run():
        with torch.no_grad():
            model(input_ids=prompt, use_cache=True)

    run()
    walls = []
    for _ in range(5):
        torch.cuda.synchronize()
        t = time.perf_counter()
        run()
        torch.cuda.synchronize()
        walls.append(time.perf_counter() - t)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    rec = _profile_record(prof, bench="prefill", batch=batch)
    emit({"exp": "prefill", "batch": batch, "wall_ms": round(_median(walls) * 1e3, 2),
          "device_ms_total": rec["device_ms_total"], "kernel_launches": rec["kernel_launches"],
          "top_kernels": rec["top_kernels"][:12]})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8,64,202,256")
    ap.add_argument("--kernel-batches", default="1,4,8,16,64,256")
    ap.add_argument("--tokens", type=int, default=65)
    ap.add_argument("--shape", default="mamba-2.8b")
    args = ap.parse_args()
    batches = [int(x) for x in args.batches.split(",")]
    t0 = time.time()
    kernels.install("fast")
    model = build_model(args.shape, torch.device(DEVICE)).eval()
    emit({"exp": "build", "wall_s": round(time.time() - t0, 1), "default_tile": _launch.DECODE_ROWS_TILE,
          "rows_from": _launch.DECODE_ROWS_FROM})
    best = {}

    def kern():
        best.update(kernel_exp(model, [int(x) for x in args.kernel_batches.split(",")]))
        emit({"exp": "kernel_best", "best_tile_per_batch": best})

    guarded("kernel", kern)
    if DEVICE == "cpu":
        return 0
    for b in batches:
        def one(b=b):
            old = graph_step(model, b, PER_ROW, args.tokens, "per_row")
            new = graph_step(model, b, None, args.tokens, "default")
            paths = {"default": new}
            pick = best.get(256 if b >= 128 else 64 if b >= 32 else b)
            if pick and b > 1:
                paths[pick] = graph_step(model, b, TILES[pick], args.tokens, pick)
            if b == 1:
                paths["rows_at_b1"] = graph_step(model, b, TILES["b16d16w4"], args.tokens, "rows_at_b1")
            for name, toks in paths.items():
                emit({"exp": "greedy_vs_per_row", "batch": b, "path": name, "identical": bool(torch.equal(toks, old)),
                      "token_agreement": (toks == old).float().mean().item(),
                      "rows_identical": (toks == old).all(-1).float().mean().item()})
        guarded(f"graph_step b{b}", one)
        emit({"exp": "elapsed", "wall_s": round(time.time() - t0, 1)})
    guarded("profile b256 rows", lambda: profile_step(model, 256, None, "default"))
    guarded("profile b256 per_row", lambda: profile_step(model, 256, PER_ROW, "per_row"))
    guarded("profile b1", lambda: profile_step(model, 1, None, "default"))
    guarded("prefill b1", lambda: prefill_exp(model, 1))
    guarded("prefill b64", lambda: prefill_exp(model, 64))
    emit({"exp": "done", "wall_s": round(time.time() - t0, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
