"""`python -m mambalign_runtime bench`: throughput of LoRA SFT steps, decoding and the scan kernel.

Prints one JSON object per measurement on stdout (and appends it to --out if given). Models are
built from their config with random weights (no download): bf16 weights, bf16 autocast for
training, LoRA on in_proj, x_proj, dt_proj and out_proj.

  bench --shape mamba-2.8b --seq 2048 --batch 8 --what train,long,decode,scan

MFU = (tokens/s * flops_per_token) / peak, flops_per_token = 4*P for LoRA without gradient
checkpointing (forward 2P + activation-gradient backward 2P; frozen weights get no weight
gradient) and 6*P with it (one more forward), P = the base model's parameter count; peak is the
card's dense bf16 datasheet rate (H100/H200 SXM: 989 TFLOP/s).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback

import torch

SHAPES = {
    # name: (hidden, layers, vocab, state, expand, conv)
    "mamba-2.8b": (2560, 64, 50280, 16, 2, 4),
    "mamba-1.4b": (2048, 48, 50280, 16, 2, 4),
    "mamba-130m": (768, 24, 50280, 16, 2, 4),
    "mamba-tiny": (64, 2, 256, 16, 2, 4),
}
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}
PEAK_HBM_GBS = {"H100": 3350.0, "H200": 4800.0, "A100": 2039.0}


def _card() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def _lookup(table: dict, card: str):
    return next((v for k, v in table.items() if k in card), None)


def build_config(shape: str):
    from transformers import MambaConfig

    if shape not in SHAPES:
        raise ValueError(f"bench: unknown --shape {shape!r}; valid: {', '.join(SHAPES)}")
    hidden, layers, vocab, state, expand, conv = SHAPES[shape]
    return MambaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, state_size=state,
                       expand=expand, intermediate_size=hidden * expand, conv_kernel=conv,
                       time_step_rank=-(-hidden // 16), use_cache=False, tie_word_embeddings=True)


def build_model(shape: str, device, dtype=torch.bfloat16):
    from transformers import MambaForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        model = MambaForCausalLM(build_config(shape))
    return model.to(dtype)


def add_lora(model, r: int):
    from peft import LoraConfig, get_peft_model

    from .lora import MAMBA_DEFAULT_TARGETS, mamba_targets_allowed, wire_lora_layers

    with mamba_targets_allowed():
        model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(MAMBA_DEFAULT_TARGETS)))
    wire_lora_layers(model)
    return model


def _sync_time(fn, reps: int, warmup: int) -> list[float]:
    """Seconds per call, measured with CUDA events (wall clock on CPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if torch.cuda.is_available():
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _emit(record: dict, out_path: str | None):
    line = json.dumps(record, sort_keys=False)
    print(line, flush=True)
    if out_path:
        with open(out_path, "a") as f:
            f.write(line + "\n")


def _train_step_fn(model, batch: int, seq: int, vocab: int, device, opt):
    from .lm_loss import next_token_nll

    ids = torch.randint(0, vocab, (batch, seq), device=device, generator=torch.Generator(device).manual_seed(1))
    weights = torch.ones(batch, seq - 1, device=device)

    def step():
        # The trainer's loss (sft.py): the mean next-token NLL over every token.
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = next_token_nll(model, ids, weights, scale=1 / weights.numel())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def bench_train(args, device, seq: int, batch: int, name: str) -> dict:
    from . import kernels

    from .kernels import _launch

    # The previous measurement's model may sit in reference cycles (PEFT wrappers): collect it
    # now, or its memory counts in this one's peak.
    gc.collect()
    torch.cuda.empty_cache() if device.type == "cuda" else None
    mode = kernels.install(args.kernels)
    # As training.py: keep the scan's chunk checkpoints only where the layer is recomputed anyway.
    _launch.set_scan_recompute(not args.grad_ckpt)
    base = build_model(args.shape, device)
    n_params = sum(p.numel() for p in base.parameters())
    # --lora-r 0: full fine-tuning (every weight trained, bf16, AdamW), as mamba_ssm's "full" row.
    model = (add_lora(base, args.lora_r) if args.lora_r > 0 else base).train()
    if args.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    step = _train_step_fn(model, batch, seq, model.config.vocab_size, device, opt)
    torch.cuda.reset_peak_memory_stats() if device.type == "cuda" else None
    times = _sync_time(step, args.steps, args.warmup)
    step_s = _median(times)
    tokens_s = batch * seq / step_s
    card = _card()
    # LoRA: 4P without checkpointing (forward 2P + activation gradients 2P), +2P with it; full
    # fine-tuning adds the weight gradients (2P).
    factor = (6 if args.grad_ckpt else 4) + (2 if args.lora_r == 0 else 0)
    flops_per_token = factor * n_params
    peak = _lookup(PEAK_BF16_TFLOPS, card)
    rec = {
        "bench": name, "card": card, "shape": args.shape, "seq": seq, "batch": batch, "kernels": mode,
        "scan_kernel": _scan_desc(),
        "grad_ckpt": args.grad_ckpt, "lora_r": args.lora_r, "params": n_params,
        "tokens_per_s": round(tokens_s, 1), "step_ms": round(step_s * 1e3, 2),
        "step_ms_all": [round(t * 1e3, 2) for t in times],
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
        "mfu": round(tokens_s * flops_per_token / (peak * 1e12), 4) if peak else None,
        "mfu_definition": f"tokens/s * {factor}*P / {peak} TFLOP/s (dense bf16 datasheet); "
                          "4*P for LoRA without gradient checkpointing, 6*P with; +2*P for full fine-tuning",
    }
    if args.reference_layer:
        rec["reference"] = reference_layer(model, base.config, batch, seq, device, step_s)
        kernels.install(args.kernels)
    del model, base, opt, step
    gc.collect()
    torch.cuda.empty_cache() if device.type == "cuda" else None
    return rec


def _scan_desc() -> dict:
    from .kernels import _launch

    return {"variant": "v4", "config": _launch.scan_configs(16, 2048)[0], "recompute_ckpt": _launch.scan_recompute()}


def reference_layer(model, config, batch: int, seq: int, device, fast_step_s: float) -> dict:
    """transformers' own path on one layer (forward+backward, same LoRA layer), scaled to depth
    and batch; the fast path's same layer is timed alongside."""
    from . import kernels

    layer = model.base_model.model.backbone.layers[0]
    ref_batch = min(batch, 1)
    out = {}
    for mode in ("fast", "reference"):
        kernels.install(mode)
        b = batch if mode == "fast" else ref_batch
        x = torch.randn(b, seq, config.hidden_size, device=device, dtype=torch.bfloat16, requires_grad=True)

        def run():
            with torch.autocast(device.type, dtype=torch.bfloat16):
                y = layer(x)
            y.float().sum().backward()

        t = _median(_sync_time(run, 1 if mode == "reference" else 5, 1))
        out[f"{mode}_layer_ms"] = round(t * 1e3, 2)
        out[f"{mode}_layer_batch"] = b
    scale = config.num_hidden_layers * batch / ref_batch
    ref_step = out["reference_layer_ms"] / 1e3 * scale
    out.update({
        "reference_step_ms_est": round(ref_step * 1e3, 1),
        "reference_tokens_per_s_est": round(batch * seq / ref_step, 2),
        "speedup_vs_reference": round(ref_step / fast_step_s, 1),
        "layer_speedup": round(out["reference_layer_ms"] * batch / ref_batch / out["fast_layer_ms"], 1),
        "method": f"one layer forward+backward (no checkpointing) at batch {ref_batch}, x {config.num_hidden_layers} "
                  f"layers x {batch}/{ref_batch} batch; the fast figure is the measured full step",
    })
    return out


def decode_prompt(model, batch: int, length: int, device, seed: int = 2) -> torch.Tensor:
    """The decode benchmarks' prompt: `batch` rows of `length` random token ids, seeded."""
    return torch.randint(0, model.config.vocab_size, (batch, length), device=device,
                         generator=torch.Generator(device).manual_seed(seed))


def graphed_decode_step(model, prompt: torch.Tensor, tokens: int):
    """(seconds per graphed decode step, the decoder): the generate path's decoder (prefill, one
    captured step replayed per token) generating `tokens` (the first from the prefill) after a
    warm-up; eos -1 never matches, so every replay runs."""
    from .decoding import GraphedDecoder

    decoder = GraphedDecoder(model, prompt, torch.ones_like(prompt), 0.0)
    decoder.generate(4, -1)
    t = _median(_sync_time(lambda: decoder.generate(tokens, -1), 3, 0))  # replays go on from the state
    return t / (tokens - 1), decoder


def profile_decode_step(model, prompt: torch.Tensor, record_shapes: bool = False):
    """torch.profiler over one eager decode step after `prompt`'s prefill (and two steps that
    compile the decode kernels outside the profile): what a graph replay launches."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad():
        out = model(input_ids=prompt, use_cache=True)
        ids = out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(2):
            ids = model(input_ids=ids, cache_params=out.cache_params, use_cache=True).logits[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=record_shapes) as prof:
            model(input_ids=ids, cache_params=out.cache_params, use_cache=True).logits[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
    return prof


def bench_decode(args, device) -> list[dict]:
    from . import kernels

    mode = kernels.install(args.kernels)
    model = build_model(args.shape, device).eval()
    recs = []
    for batch in args.decode_batch:
        prompt = decode_prompt(model, batch, args.prompt_len, device)
        with torch.no_grad():
            t0 = time.perf_counter()
            out = model(input_ids=prompt, use_cache=True)
            torch.cuda.synchronize()
            prefill_s = time.perf_counter() - t0
        cache = out.cache_params
        first = out.logits[:, -1].argmax(-1, keepdim=True)
        rec = {"bench": "decode", "card": _card(), "shape": args.shape, "batch": batch, "kernels": mode,
               "prompt_len": args.prompt_len, "new_tokens": args.decode_tokens,
               "prefill_ms_first_call": round(prefill_s * 1e3, 1)}
        # Eager steps (no graph) for comparison.
        ids = first.clone()

        def eager_step():
            nonlocal ids
            with torch.no_grad():
                ids = model(input_ids=ids, cache_params=cache, use_cache=True).logits[:, -1].argmax(-1, keepdim=True)

        eager = _median(_sync_time(eager_step, 10, 2))
        rec["eager_step_ms"] = round(eager * 1e3, 3)
        rec["eager_tokens_per_s"] = round(batch / eager, 1)
        step_s, decoder = graphed_decode_step(model, prompt, args.decode_tokens)
        rec["graph_step_ms"] = round(step_s * 1e3, 3)
        rec["tokens_per_s"] = round(batch / step_s, 1)

        def with_prefill():  # as the anchor side by side counts it: prefill, then new_tokens - 1 replays
            with torch.no_grad():
                model(input_ids=prompt, use_cache=True)
            decoder.generate(args.decode_tokens, -1)

        t = _median(_sync_time(with_prefill, 3, 0))
        rec["generate_ms_with_prefill"] = round(t * 1e3, 2)
        rec["tokens_per_s_with_prefill"] = round(batch * args.decode_tokens / t, 1)
        rec["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        recs.append(rec)
        del decoder, cache, out
    return recs


def bench_scan(args, device) -> list[dict]:
    """The scan kernels alone at one layer's shape: every candidate tile in the same process, with
    time, achieved bandwidth and state updates per second; the backward both with the forward's
    chunk checkpoints and recomputing them (what training without checkpointing does)."""
    from .kernels import _launch
    from .kernels import scan_v4

    hidden, _, _, n, expand, _ = SHAPES[args.shape]
    b, d, L = args.batch, hidden * expand, args.seq
    g = torch.Generator(device).manual_seed(3)

    def r(*s, dtype=torch.bfloat16):
        return torch.randn(*s, device=device, generator=g).to(dtype)

    u, dt, z = (r(b, L, d).transpose(1, 2) for _ in range(3))
    dt = dt * 0.5 - 2.0
    B, C = r(b, L, n).transpose(1, 2), r(b, L, n).transpose(1, 2)
    A = -torch.rand(d, n, device=device, generator=g) * 8 - 0.5
    Dv, bias = r(d, dtype=torch.float32), r(d, dtype=torch.float32)
    dout = r(b, L, d).transpose(1, 2)
    copy_src = torch.empty(2**28, dtype=torch.float32, device=device)  # 1 GiB
    copy_dst = torch.empty_like(copy_src)
    t_copy = _median(_sync_time(lambda: copy_dst.copy_(copy_src), 10, 3))
    copy_gbs = 2 * copy_src.numel() * 4 / t_copy / 1e9
    del copy_src, copy_dst
    card = _card()
    block_n = 16 if n <= 16 else 64
    recs = []
    ref_out = ref_grads = None  # the first tile's results: every other tile must agree with them
    impl, variant = scan_v4, "v4"
    forced = _parse_scan_config(args.scan_config) if args.scan_config else None
    configs = (forced if isinstance(forced, list) else [forced]) if forced else _launch.scan_configs(block_n, L)
    if args.scan_tiles > 0:
        configs = configs[:args.scan_tiles]
    for cfg in configs:
        try:
            fwd = lambda: impl.scan_forward(u, dt, A, B, C, Dv, z, bias, True, store_ckpt=True, config=cfg)  # noqa: E731
            out, ckpt, _ = fwd()
            if ref_out is None:
                ref_out = out.float()
            agree = ((out.float() - ref_out).norm() / ref_out.norm()).item()
            t_f = _median(_sync_time(fwd, 7, 1))
            bwd = lambda: impl.scan_backward(dout, u, dt, A, B, C, Dv, z, bias, True, ckpt, config=cfg)  # noqa: E731
            grads = [gr.float() for gr in bwd()[:5]]  # du, ddt, dA, dB, dC
            if ref_grads is None:
                ref_grads = grads
            bwd_agree = max(((gr - rg).norm() / rg.norm()).item() for gr, rg in zip(grads, ref_grads))
            del grads
            t_b = _median(_sync_time(bwd, 7, 1))
            bwd_re = lambda: impl.scan_backward(dout, u, dt, A, B, C, Dv, z, bias, True, None, config=cfg)  # noqa: E731
            t_br = _median(_sync_time(bwd_re, 5, 1))
        except Exception as err:  # a tile that does not compile on this card is reported, not fatal
            recs.append({"bench": "scan", "card": card, "variant": variant, "config": cfg,
                         "error": repr(err)[:300]})
            continue
        act = b * L * d * 2  # one bf16 activation tensor
        bc = b * L * n * 2
        ck = ckpt.numel() * 4
        k, kf = scan_v4.tile(cfg, n, backward=True), scan_v4.tile(cfg, n)
        n_chunks = -(-L // cfg["CHUNK"])
        block_d = k["DI"] * k["DL"]
        nblk = -(-d // block_d)
        fwd_bytes = 3 * act + 2 * bc + act + ck  # read u, dt, z, B, C; write out, checkpoints
        bwd_bytes = 4 * act + 2 * bc + ck + 3 * act + 2 * b * nblk * n * L * 4  # + dout; write du, ddt, dz, dB/dC parts
        elems = b * L * d * n
        recs.append({
            "bench": "scan", "card": card, "shape": args.shape, "batch": b, "seq": L, "dim": d, "dstate": n,
            "variant": variant, "config": cfg, "fwd_ms": round(t_f * 1e3, 3), "bwd_ms": round(t_b * 1e3, 3),
            "fwd_bwd_ms": round((t_f + t_b) * 1e3, 3), "bwd_recompute_ckpt_ms": round(t_br * 1e3, 3), "out_rel_diff_vs_first": float(f"{agree:.2e}"),
            "grad_rel_diff_vs_first": float(f"{bwd_agree:.2e}"),
            "fwd_gbs": round(fwd_bytes / t_f / 1e9, 1), "bwd_gbs": round(bwd_bytes / t_b / 1e9, 1),
            "fwd_state_updates_per_s": f"{elems / t_f:.3e}", "bwd_state_updates_per_s": f"{elems / t_b:.3e}",
            "ckpt_gib": round(ck / 2**30, 3),
            "segments": {"fwd": _launch.scan_segments(cfg, n_chunks, b * -(-d // (kf["DI"] * kf["DL"])), False)[0],
                         "bwd": _launch.scan_segments(cfg, n_chunks, b * nblk, True)[0]},
            "measured_copy_gbs": round(copy_gbs, 1), "datasheet_hbm_gbs": _lookup(PEAK_HBM_GBS, card),
            "byte_floor_fwd_ms": round(fwd_bytes / (copy_gbs * 1e9) * 1e3, 3),
            "byte_floor_bwd_ms": round(bwd_bytes / (copy_gbs * 1e9) * 1e3, 3),
        })
        del out, ckpt
    return recs


def pick_scan(args, device) -> dict:
    """--scan-pick: time every candidate tile at this shape (bench_scan), then use the fastest
    forward+backward for the rest of this process."""
    from .kernels import _launch

    recs = bench_scan(args, device)
    ok = [r for r in recs if "error" not in r]
    if not ok:
        raise RuntimeError(f"no scan variant ran: {recs}")
    best = min(ok, key=lambda r: r["fwd_bwd_ms"])
    _launch.set_scan_config(best["config"])
    return {"bench": "scan_pick", "card": _card(), "config": best["config"], "fwd_bwd_ms": best["fwd_bwd_ms"],
            "fwd_ms": best["fwd_ms"], "bwd_ms": best["bwd_ms"], "bwd_recompute_ckpt_ms": best["bwd_recompute_ckpt_ms"],
            "fwd_gbs": best["fwd_gbs"], "bwd_gbs": best["bwd_gbs"], "all": recs}


def _parse_scan_config(text: str) -> dict | list:
    """A JSON object: {"CHUNK": 4, "DI": 4, "NI": 4[, "bwd_DI": 1, "bwd_NI": 4, "num_warps": 1,
    "SEGS": 8, "bwd_SEGS": 4]}; --what scan also takes a list of them (each timed)."""
    return json.loads(text)


def _profile_record(prof, **fields) -> dict:
    """Per-kernel CUDA time, largest first, and the operators that launched them (self time)."""
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    rows = sorted(prof.key_averages(), key=lambda e: -e.device_time_total)
    ops = sorted((e for e in rows if e.device_type == torch.autograd.DeviceType.CPU and e.self_device_time_total > 0),
                 key=lambda e: -e.self_device_time_total)
    total = sum(e.device_time_total for e in rows if e.device_type == torch.autograd.DeviceType.CUDA)
    by_shape = sorted((e for e in prof.key_averages(group_by_input_shape=True)
                       if e.device_type == torch.autograd.DeviceType.CPU and e.self_device_time_total > 0),
                      key=lambda e: -e.self_device_time_total)
    return {**fields, "card": _card(), "kernel_launches": len(kernels), "device_ms_total": round(total / 1e3, 1),
            "top_ops_by_shape": [[e.key[:40], str(e.input_shapes)[:160], round(e.self_device_time_total / 1e3, 2),
                                  e.count] for e in by_shape][:30],
            "top_kernels": [[e.key[:80], round(e.device_time_total / 1e3, 2), e.count] for e in rows
                            if e.device_type == torch.autograd.DeviceType.CUDA][:25],
            "top_ops_self": [[e.key[:60], round(e.self_device_time_total / 1e3, 2), e.count] for e in ops][:25]}


def bench_profile(args, device) -> list[dict]:
    """One training step under torch.profiler: the CUDA time per kernel and per operator."""
    from . import kernels

    kernels.install(args.kernels)
    model = add_lora(build_model(args.shape, device), args.lora_r).train()
    if args.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    step = _train_step_fn(model, args.batch, args.seq, model.config.vocab_size, device, opt)
    return [profile_step(step, bench="profile", shape=args.shape, seq=args.seq, batch=args.batch,
                         scan_kernel=_scan_desc())]


def profile_step(step, **fields) -> dict:
    """One call of `step` under torch.profiler after a warm-up call: _profile_record's fields. The
    anchor's side by side profiles mamba_ssm's step with it too, so both split alike."""
    from torch.profiler import ProfilerActivity, profile

    step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        step()
        torch.cuda.synchronize()
    return _profile_record(prof, **fields)


def bench_profile_decode(args, device) -> list[dict]:
    """One eager decode step at batch 1 under torch.profiler: what a graph replay launches."""
    from . import kernels

    kernels.install(args.kernels)
    model = build_model(args.shape, device).eval()
    prof = profile_decode_step(model, decode_prompt(model, 1, args.prompt_len, device))
    return [_profile_record(prof, bench="profile_decode", shape=args.shape, batch=1,
                            layers=model.config.num_hidden_layers)]


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mambalign_runtime bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="mamba-2.8b", choices=sorted(SHAPES))
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=5, help="timed training steps (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--kernels", default="fast", choices=["auto", "fast", "reference"])
    p.add_argument("--grad-ckpt", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--lora-r", type=int, default=16, help="LoRA rank; 0 = full fine-tuning (train only)")
    p.add_argument("--what", default="train",
                   help="comma list of: train, long, decode, scan, profile, profile_decode")
    p.add_argument("--reference-layer", action=argparse.BooleanOptionalAction, default=True,
                   help="time transformers' own path on one layer and scale it (train only)")
    p.add_argument("--long-seq", type=int, default=16384)
    p.add_argument("--decode-batch", type=lambda s: [int(x) for x in s.split(",")], default=[1, 64])
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--scan-pick", action=argparse.BooleanOptionalAction, default=True,
                   help="before train/long/profile, time the scan's candidate tiles and use the fastest (scan_pick)")
    p.add_argument("--scan-config", default="",
                   help='scan tile (JSON, e.g. {"CHUNK":4,"DI":4,"NI":4}); skips --scan-pick')
    p.add_argument("--scan-tiles", type=int, default=0, help="time at most this many tiles (0: all)")
    p.add_argument("--out", default="", help="also append the JSON lines to this file")
    args = p.parse_args(argv)
    args.what = [w.strip() for w in args.what.split(",") if w.strip()]
    valid = ("train", "long", "decode", "scan", "profile", "profile_decode")
    bad = [w for w in args.what if w not in valid]
    if bad:
        p.error(f"--what: unknown {bad}; valid: {', '.join(valid)}")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    if not torch.cuda.is_available():
        print(json.dumps({"bench": "error", "error": "bench needs a CUDA GPU"}), flush=True)
        return 1
    device = torch.device("cuda")
    from .kernels import _launch

    failed = False
    if args.scan_config:
        forced = _parse_scan_config(args.scan_config)
        _launch.set_scan_config(forced[0] if isinstance(forced, list) else forced)
    elif args.scan_pick and any(w in args.what for w in ("train", "long", "profile")):
        try:
            _emit(pick_scan(args, device), args.out)
        except Exception as err:
            failed = True
            _emit({"bench": "scan_pick", "card": _card(), "error": repr(err)[:500],
                   "trace": traceback.format_exc()[-1500:]}, args.out)
        torch.cuda.empty_cache()
    jobs = {
        "scan": lambda: bench_scan(args, device),
        "train": lambda: [bench_train(args, device, args.seq, args.batch, "train")],
        "long": lambda: [bench_train(argparse.Namespace(**{**vars(args), "reference_layer": False}), device,
                                     args.long_seq, 1, "long")],
        "decode": lambda: bench_decode(args, device),
        "profile": lambda: bench_profile(args, device),
        "profile_decode": lambda: bench_profile_decode(args, device),
    }
    for what in args.what:
        try:
            for rec in jobs[what]():
                _emit(rec, args.out)
        except Exception as err:  # report and go on with the other measurements
            failed = True
            _emit({"bench": what, "card": _card(), "error": repr(err)[:500],
                   "trace": traceback.format_exc()[-1500:]}, args.out)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
