"""Device experiment: the decode step with the state update in row blocks (kernels/decode.py)
against one row per program (the round-5 kernel), at the 2.8B shape with random bf16 weights, on
one GPU, in one process.

  PYTHONPATH=. python3 scripts/gpu_decode_rows.py [--what kernel,graph,control,profile,prefill]

Prints one JSON line per result (each experiment in its own try/except):
  - "kernel": the state update's output and state per tile against the per-row kernel;
  - "graph_step": the graphed decode step (GraphedDecoder, as `bench --what decode`) per batch
    and variant (VARIANTS), and "greedy_vs_per_row": the greedy tokens of default vs per_row;
  - "control_*": how stable greedy tokens of random weights are at all (see control());
  - "profile_decode": torch.profiler's kernel times for one eager decode step (batch 256, 64);
  - "prefill": a 16-token prefill's wall time against its device time (batch 1).
"""

from __future__ import annotations

import argparse
import time

import torch
from gpu_experiment import emit, guarded, rel

from mambalign_runtime import kernels
from mambalign_runtime.bench import (_median, _profile_record, build_model, decode_prompt, graphed_decode_step,
                                     profile_decode_step)
from mambalign_runtime.decoding import GraphedDecoder
from mambalign_runtime.kernels import _launch
from mambalign_runtime.kernels.decode import state_update

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a smoke run of the kernel part (interpreter)
PER_ROW = {"from_batch": 0}
# name -> decode tile forced (None: the defaults). Run 2 (KERNELS.md "Round 6") also had the
# round-5 conv kernel (one tap at a time), since deleted: it lost at every batch.
VARIANTS = {
    "per_row": PER_ROW,
    "default": None,
    "rows_w8": {"from_batch": 1, "BLOCK_B": 16, "BLOCK_D": 16, "num_warps": 8},
}
TILES = {  # name -> forced tile (from_batch 1: row blocks at every batch)
    "b16d16w4": {"from_batch": 1, "BLOCK_B": 16, "BLOCK_D": 16, "num_warps": 4},
    "b16d16w8": {"from_batch": 1, "BLOCK_B": 16, "BLOCK_D": 16, "num_warps": 8},
}


def guarded_tile(name: str, fn) -> None:
    guarded(name, fn, lambda: _launch.set_decode_tile(None))


def kernel_exp(model, batches) -> None:
    """Per tile and batch: the state update's output and state against the per-row kernel
    (one layer's shape and weights; its device time is in the profiles)."""
    mixer = model.backbone.layers[0].mixer
    w, bias, A_log, D = mixer.dt_proj.weight, mixer.dt_proj.bias, mixer.A_log, mixer.D
    dim, n, rank = A_log.shape[0], A_log.shape[1], w.shape[1]
    for b in batches:
        g = torch.Generator(DEVICE).manual_seed(b)
        r = lambda *s, dt=torch.bfloat16: torch.randn(*s, device=DEVICE, generator=g).to(dt)  # noqa: E731
        # Activations as the decode step hands them over: x_proj's output split (strided views).
        ts, B, C = torch.split(r(b, rank + 2 * n), [rank, n, n], -1)
        x, z = r(b, 2 * dim).chunk(2, -1)
        x = x.contiguous()
        state0 = r(b, dim, n, dt=torch.float32)
        outs = {}
        for name, tile in {"per_row": PER_ROW, **TILES}.items():
            _launch.set_decode_tile(tile)
            state = state0.clone()
            outs[name] = (state_update(state, x, ts, A_log, B, C, D, z, bias, True, A_is_log=True, dt_weight=w), state)
            if name != "per_row":
                (y, st), (y0, s0) = outs[name], outs["per_row"]
                emit({"exp": "kernel", "batch": b, "tile": name, "y_rel_err": rel(y, y0), "state_rel_err": rel(st, s0),
                      "y_equal_frac": (y == y0).float().mean().item(), "state_max_abs": (st - s0).abs().max().item()})
        _launch.set_decode_tile(None)


def set_variant(name: str) -> None:
    _launch.set_decode_tile(VARIANTS[name])


def prompts(model, batch: int):
    return decode_prompt(model, batch, 16, DEVICE)


def graph_step(model, batch: int, variant: str, tokens: int, want_tokens: bool):
    set_variant(variant)
    prompt = prompts(model, batch)
    step_s, decoder = graphed_decode_step(model, prompt, tokens)
    emit({"exp": "graph_step", "batch": batch, "path": variant, "graph_step_ms": round(step_s * 1e3, 3),
          "tokens_per_s": round(batch / step_s, 1)})
    del decoder
    if want_tokens:
        return GraphedDecoder(model, prompt, torch.ones_like(prompt), 0.0).generate(tokens, -1).cpu()
    return None


def control(model, tokens: int) -> None:
    """How far greedy tokens of random weights are from bit-stable: the round-5 path against
    itself when only the batch around a row changes (8 rows alone vs the same 8 as rows 0-7 of
    64: cuBLAS picks other GEMM kernels), and one decode step's logits new vs round-5 path
    against the gap between each row's two best logits."""
    p64 = prompts(model, 64)
    set_variant("per_row")
    alone = GraphedDecoder(model, p64[:8], torch.ones_like(p64[:8]), 0.0).generate(tokens, -1).cpu()
    within = GraphedDecoder(model, p64, torch.ones_like(p64), 0.0).generate(tokens, -1).cpu()[:8]
    emit({"exp": "control_batch_change", "path": "per_row", "token_agreement": (alone == within).float().mean().item(),
          "rows_identical": (alone == within).all(-1).float().mean().item(),
          "first_divergence": [int((a != w).nonzero()[0]) if (a != w).any() else -1 for a, w in zip(alone, within)]})
    logits = {}
    for name in ("per_row", "default"):
        set_variant(name)
        with torch.no_grad():
            out = model(input_ids=p64, use_cache=True)
            ids = out.logits[:, -1].argmax(-1, keepdim=True)
            logits[name] = model(input_ids=ids, cache_params=out.cache_params, use_cache=True).logits[:, -1].float()
    old, new = logits["per_row"], logits["default"]
    top2 = old.topk(2, -1).values
    emit({"exp": "control_logits", "batch": 64, "rel_err": rel(new, old), "max_abs_diff": (new - old).abs().max().item(),
          "logit_abs_mean": old.abs().mean().item(), "top2_gap_median": (top2[:, 0] - top2[:, 1]).median().item(),
          "argmax_equal_frac": (new.argmax(-1) == old.argmax(-1)).float().mean().item()})


def profile_step(model, batch: int, variant: str) -> None:
    set_variant(variant)
    prof = profile_decode_step(model, prompts(model, batch), record_shapes=True)
    rec = _profile_record(prof, bench="profile_decode", batch=batch, path=variant)
    rec.pop("top_ops_self", None)
    emit({"exp": "profile_decode", **rec})


def prefill_exp(model, batch: int) -> None:
    """A 16-token prefill (what the anchor side by side counts in each decode figure): wall time
    against the device time the profiler sees, i.e. how much of it is the host launching kernels."""
    from torch.profiler import ProfilerActivity, profile

    prompt = decode_prompt(model, batch, 16, DEVICE, seed=3)

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
    ap.add_argument("--what", default="kernel,graph,control,profile,prefill")
    ap.add_argument("--batches", default="1,16,32,64,256")
    ap.add_argument("--variants", default="per_row,default,rows_w8",
                    help=f"graph-step variants at batch >= 64 (below: per_row, default); of {sorted(VARIANTS)}")
    ap.add_argument("--kernel-batches", default="1,20,256")
    ap.add_argument("--tokens", type=int, default=65)
    ap.add_argument("--shape", default="mamba-2.8b")
    args = ap.parse_args()
    what = args.what.split(",")
    t0 = time.time()
    kernels.install("fast")
    model = build_model(args.shape, torch.device(DEVICE)).eval()
    emit({"exp": "build", "wall_s": round(time.time() - t0, 1), "default_tile": _launch.DECODE_ROWS_TILE,
          "rows_from": _launch.DECODE_ROWS_FROM})
    if "kernel" in what:
        guarded_tile("kernel", lambda: kernel_exp(model, [int(x) for x in args.kernel_batches.split(",")]))
    if DEVICE == "cpu":
        return 0
    for b in [int(x) for x in args.batches.split(",")] if "graph" in what else []:
        def one(b=b):
            variants = args.variants.split(",") if b >= 64 else ["per_row", "default"]
            toks = {v: graph_step(model, b, v, args.tokens, v in ("per_row", "default")) for v in variants}
            if "per_row" in toks and "default" in toks:
                old, new = toks["per_row"], toks["default"]
                emit({"exp": "greedy_vs_per_row", "batch": b, "identical": bool(torch.equal(new, old)),
                      "token_agreement": (new == old).float().mean().item(),
                      "rows_identical": (new == old).all(-1).float().mean().item()})
        guarded_tile(f"graph_step b{b}", one)
        emit({"exp": "elapsed", "wall_s": round(time.time() - t0, 1)})
    if "control" in what:
        guarded_tile("control", lambda: control(model, args.tokens))
    if "profile" in what:
        guarded_tile("profile b256", lambda: profile_step(model, 256, "default"))
        guarded_tile("profile b64", lambda: profile_step(model, 64, "default"))
    if "prefill" in what:
        guarded_tile("prefill b1", lambda: prefill_exp(model, 1))
    emit({"exp": "done", "wall_s": round(time.time() - t0, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
