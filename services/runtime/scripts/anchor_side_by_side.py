"""Ours next to mamba_ssm on the same shapes: one table of ratios (tokens/s, peak memory).

Two ways to fill the anchor's column:
  --measure SITE   import mamba_ssm 2.3.2.post1 / causal-conv1d 1.7.0 from SITE (built on the GPU
                   machine; the product never imports them) and time them in this process, right
                   after ours, on the same card;
  --anchor FILE    JSON lines with the anchor's figures measured earlier (each names its card and
                   source), e.g. docs/bench/2026-12-03-anchor-mamba-ssm-h200.jsonl.
Our column: --ours FILE (bench JSON lines) or, with --measure alone, measured here too (--measure
with --ours measures the anchor only: e.g. ours in one call, the anchor in the next, same lease).
The file --out writes holds both (the anchor's records carry "anchor"): --ours F --anchor F
redraws its table.

Shapes (2.8B, random bf16 weights, seq 2048 unless said), both sides timed the same way (median of
the timed steps after a warm-up step, peak allocated memory of the row):
  frozen base: ours LoRA r16 on the four projections; the anchor trains only its norms (LoRA-like
    compute: every activation gradient, no large weight gradient); batch 4 and 8, with and without
    gradient checkpointing (the anchor's blocks are wrapped in torch.utils.checkpoint, as
    transformers does ours);
  seq 16,384 batch 1, same two ways; full fine-tuning batch 4 (every weight, bf16, AdamW);
  decode batch 1 and 64: prompt 16, 64 new tokens, CUDA graphs, prefill included on both sides.

  python scripts/anchor_side_by_side.py --ours OURS.jsonl --anchor ANCHOR.jsonl [--markdown]
  PYTHONPATH=. python scripts/anchor_side_by_side.py --measure SITE --out FILE     # on the GPU machine
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

# (label, key): key = (bench, seq, batch, grad_ckpt), the same on both sides.
ROWS = [
    ("LoRA/frozen base b4, no ckpt", ("train", 2048, 4, False)),
    ("LoRA/frozen base b4, ckpt", ("train", 2048, 4, True)),
    ("LoRA/frozen base b8, no ckpt", ("train", 2048, 8, False)),
    ("LoRA/frozen base b8, ckpt", ("train", 2048, 8, True)),
    ("seq 16,384 b1, no ckpt", ("long", 16384, 1, False)),
    ("seq 16,384 b1, ckpt", ("long", 16384, 1, True)),
    ("full fine-tuning b4, no ckpt", ("full", 2048, 4, False)),
    ("decode b1", ("decode", None, 1, None)),
    ("decode b64", ("decode", None, 64, None)),
]
TRAIN_SHAPES = [key for _, key in ROWS if key[0] != "decode"]
DECODE_BATCHES = [key[2] for _, key in ROWS if key[0] == "decode"]
PROMPT, NEW = 16, 64


def row_key(r: dict):
    """A record's row. Decode has no seq/ckpt; anchor records written before checkpointing was
    measured on its side carry no grad_ckpt: they were measured without."""
    if r.get("bench") == "decode":
        return ("decode", None, r.get("batch"), None)
    return (r.get("bench"), r.get("seq"), r.get("batch"), bool(r.get("grad_ckpt", False)))


def read_jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _cell(r: dict | None, k: str) -> str:
    if r is None:
        return "—"
    if "error" in r:
        return "OOM" if "out of memory" in r["error"].lower() else "error"
    return "—" if r.get(k) is None else f"{r[k]:,}"


def _ratio(mine: dict | None, theirs: dict | None, k: str) -> str:
    if not mine or not theirs or "error" in mine or "error" in theirs or not mine.get(k) or not theirs.get(k):
        return "—"
    return f"{mine[k] / theirs[k]:.2f}x"


def rows(ours: list[dict], anchor: list[dict]) -> list[list[str]]:
    """One row per shape measured on either side: label, ours tok/s, GiB, theirs tok/s, GiB, ratios.
    A later record of the same shape replaces an earlier one (the file may hold several runs)."""
    o = {row_key(r): r for r in ours}
    a = {row_key(r): r for r in anchor}
    out = []
    for label, key in ROWS:
        mine, theirs = o.get(key), a.get(key)
        if mine is None and theirs is None:
            continue
        out.append([label, _cell(mine, "tokens_per_s"), _cell(mine, "peak_mem_gib"), _cell(theirs, "tokens_per_s"),
                    _cell(theirs, "peak_mem_gib"), _ratio(mine, theirs, "tokens_per_s"),
                    _ratio(mine, theirs, "peak_mem_gib")])
    return out


HEAD = ["shape", "ours tok/s", "ours GiB", "mamba_ssm tok/s", "mamba_ssm GiB", "tok/s ours/theirs",
        "memory ours/theirs"]


def table(ours: list[dict], anchor: list[dict], markdown: bool) -> str:
    lines = rows(ours, anchor)
    cards = sorted({r.get("card", "?") for r in [*ours, *anchor]})
    keys = {key for _, key in ROWS}

    def where(recs):  # the lease or source of each column's rows (a file may join two runs and other benches)
        return "; ".join(sorted({r.get("source") or r.get("lease") or "measured in this process" for r in recs
                                 if row_key(r) in keys}))

    note = f"card(s): {', '.join(cards)}; ours: {where(ours)}; anchor: {where(anchor)}"
    if markdown:
        out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        out += ["| " + " | ".join(row) + " |" for row in lines]
        return "\n".join(out) + f"\n\n{note}\n"
    widths = [max(len(str(x)) for x in col) for col in zip(HEAD, *lines)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [HEAD, *lines]]
    return "\n".join(out) + f"\n{note}\n"


# ---- measuring (GPU machine only) -------------------------------------------------------------

def _time_steps(step, steps: int, warmup: int = 1) -> dict:
    import torch

    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return {"step_ms": round(statistics.median(times) * 1e3, 1), "step_ms_all": [round(x * 1e3, 1) for x in times],
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}


def _measured(fn, rec: dict) -> dict:
    import torch

    gc.collect()  # the previous row's model or optimizer may sit in reference cycles: not in this peak
    torch.cuda.empty_cache()
    try:
        rec.update(fn())
    except Exception as err:  # out of memory, or a failure: the row says so, the others still run
        rec["error"] = f"{type(err).__name__}: {err}"[:300]
    if "step_ms" in rec:
        rec["tokens_per_s"] = round(rec["batch"] * rec["seq"] / (rec["step_ms"] / 1e3), 1)
    torch.cuda.empty_cache()
    return rec


def measure_anchor(site: str, steps: int, emit, profile: bool = False) -> list[dict]:
    """mamba_ssm's LM (Mamba-1, 2.8B shape), timed as ours below; emit(record) as each is done.
    `profile`: also one frozen-base step at batch 4 without checkpointing under torch.profiler (the
    record `bench --what profile` gives for ours), so the two steps' kernel time can be split alike."""
    import torch
    from torch.utils.checkpoint import checkpoint

    sys.path.insert(0, site)
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

    card = torch.cuda.get_device_name()
    cfg = MambaConfig(d_model=2560, n_layer=64, vocab_size=50280, ssm_cfg={"layer": "Mamba1"}, rms_norm=True,
                      residual_in_fp32=True, fused_add_norm=True, pad_vocab_size_multiple=8)
    torch.manual_seed(0)
    model = MambaLMHeadModel(cfg, device="cuda", dtype=torch.bfloat16)
    plain = [blk.forward for blk in model.backbone.layers]

    def set_ckpt(on: bool):
        for blk, f in zip(model.backbone.layers, plain):
            blk.forward = (lambda h, residual=None, inference_params=None, _f=f:
                           checkpoint(_f, h, residual, inference_params, use_reentrant=False)) if on else f

    def train(batch, seq, full, ckpt, run=lambda step: _time_steps(step, steps)):
        set_ckpt(ckpt)
        for n, p in model.named_parameters():
            p.requires_grad_(full or "norm" in n)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        ids = torch.randint(0, 50000, (batch, seq), device="cuda")

        def step():
            logits = model(ids).logits
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        try:
            return run(step)
        finally:
            set_ckpt(False)

    recs = []
    for bench, seq, batch, ckpt in TRAIN_SHAPES:
        rec = {"anchor": "mamba_ssm", "bench": bench, "seq": seq, "batch": batch, "grad_ckpt": ckpt, "card": card}
        recs.append(emit(_measured(lambda: train(batch, seq, bench == "full", ckpt), rec)))
    if profile:
        from mambalign_runtime.bench import profile_step

        fields = {"anchor": "mamba_ssm", "bench": "profile", "seq": 2048, "batch": 4, "grad_ckpt": False}
        recs.append(emit(train(4, 2048, False, False, run=lambda step: profile_step(step, **fields))))
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        for batch in DECODE_BATCHES:
            ids = torch.randint(0, 50000, (batch, PROMPT), device="cuda")

            def timed():
                model.generate(ids, max_length=PROMPT + NEW, cg=True, top_k=1)  # warm-up + graph capture
                return {"generate_ms": _time_steps(lambda: model.generate(ids, max_length=PROMPT + NEW, cg=True,
                                                                          top_k=1), 3)["step_ms"]}

            rec = _measured(timed, {"anchor": "mamba_ssm", "bench": "decode", "batch": batch, "card": card,
                                    "prompt_len": PROMPT, "new_tokens": NEW})
            if "generate_ms" in rec:
                rec["tokens_per_s"] = round(batch * NEW / (rec["generate_ms"] / 1e3), 1)
            recs.append(emit(rec))
    del model
    torch.cuda.empty_cache()
    return recs


def measure_ours(steps: int, emit) -> list[dict]:
    """Our bench's model and step (bench.py) on the rows' shapes, one model build per row;
    emit(record) as each is done."""
    import torch

    from mambalign_runtime import bench, kernels
    from mambalign_runtime.decoding import GraphedDecoder

    device = torch.device("cuda")
    recs = []
    for name, seq, batch, ckpt in TRAIN_SHAPES:
        args = bench.parse(["--what", "train", "--steps", str(steps), "--warmup", "1", "--no-reference-layer",
                            "--seq", str(seq), "--batch", str(batch), "--lora-r", "0" if name == "full" else "16",
                            "--grad-ckpt" if ckpt else "--no-grad-ckpt"])
        try:
            rec = bench.bench_train(args, device, seq, batch, name)
        except Exception as err:  # out of memory, or a failure: the row says so, the others still run
            rec = {"bench": name, "card": bench._card(), "seq": seq, "batch": batch, "grad_ckpt": ckpt,
                   "error": f"{type(err).__name__}: {err}"[:300]}
        recs.append(emit(rec))
        torch.cuda.empty_cache()
    kernels.install("fast")
    model = bench.build_model("mamba-2.8b", device).eval()
    for batch in DECODE_BATCHES:
        prompt = torch.randint(0, 50000, (batch, PROMPT), device=device)

        def timed():
            decoder = GraphedDecoder(model, prompt, torch.ones_like(prompt), 0.0)  # compiles, captures

            def generate():  # what the anchor's generate does: prefill, then NEW-1 graph replays
                with torch.no_grad():
                    model(input_ids=prompt, use_cache=True)
                decoder.generate(NEW, -1)

            return {"generate_ms": _time_steps(generate, 3)["step_ms"]}

        rec = _measured(timed, {"bench": "decode", "batch": batch, "card": bench._card(), "prompt_len": PROMPT,
                                "new_tokens": NEW})
        if "generate_ms" in rec:
            rec["tokens_per_s"] = round(batch * NEW / (rec["generate_ms"] / 1e3), 1)
        recs.append(emit(rec))
    del model
    torch.cuda.empty_cache()
    return recs


def _emitter(path: str | None):
    """Print each record as a JSON line and append it to `path`: a run cut short keeps its rows."""
    def emit(rec: dict) -> dict:
        line = json.dumps(rec)
        print(line, flush=True)
        if path:
            with open(path, "a") as f:
                f.write(line + "\n")
        return rec
    return emit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", help="our bench JSON lines")
    ap.add_argument("--anchor", help="the anchor's JSON lines (earlier measurement)")
    ap.add_argument("--measure", metavar="SITE", help="measure ours and mamba_ssm (imported from SITE) here")
    ap.add_argument("--steps", type=int, default=4, help="timed training steps per row (median)")
    ap.add_argument("--out", help="append every record measured here to this file")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="with --measure: also profile the anchor's frozen-base step at batch 4, no checkpointing")
    args = ap.parse_args()
    # One file may hold both columns (as --out writes them): the anchor's records carry "anchor".
    ours = [r for r in read_jsonl(args.ours) if "anchor" not in r] if args.ours else []
    anchor = [r for r in read_jsonl(args.anchor) if "anchor" in r] if args.anchor else []
    if args.measure:
        emit = _emitter(args.out)
        if not ours:  # --ours with --measure: our column measured earlier in this lease, the anchor's now
            ours = measure_ours(args.steps, emit)
            print(table(ours, anchor, args.markdown), flush=True)  # ours alone first, should the anchor fail
        gc.collect()  # nothing of ours may count in the anchor's peaks
        try:
            anchor = measure_anchor(args.measure, args.steps, emit, profile=args.profile)
        except Exception as err:  # e.g. the anchor's build is missing: keep our column
            emit({"anchor": "mamba_ssm", "bench": "import", "error": f"{type(err).__name__}: {err}"[:500]})
            traceback.print_exc()
            # `anchor` still holds the --anchor file's records (an earlier lease): compare with those.
    if not ours or not anchor:
        ap.error("need both columns: --ours and --anchor, or --measure SITE")
    print(table(ours, anchor, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
