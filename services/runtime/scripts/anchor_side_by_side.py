"""Ours next to mamba_ssm on the same shapes: one table of ratios (tokens/s, peak memory).

Two ways to fill the anchor's column:
  --measure SITE   import mamba_ssm 2.3.2.post1 / causal-conv1d 1.7.0 from SITE (built on the GPU
                   machine; the product never imports them) and time them in this process, right
                   after ours, on the same card;
  --anchor FILE    JSON lines with the anchor's figures measured earlier (each names its card and
                   source), e.g. docs/bench/2026-12-03-anchor-mamba-ssm-h200.jsonl.
Our column: --ours FILE (bench JSON lines) or, with --measure, measured here too.

Shapes (2.8B, random bf16 weights, seq 2048 unless said): frozen base (ours LoRA r16 on the four
projections; the anchor trains only the norms, as LoRA-like compute) batch 4 and 8 with and without
gradient checkpointing (mamba_ssm's LM has no checkpointing: its no-checkpointing figure is the
row's reference), seq 16,384 batch 1, decode batch 1 and 64 (prompt 16, 64 new, CUDA graphs).

  python scripts/anchor_side_by_side.py --ours OURS.jsonl --anchor ANCHOR.jsonl [--markdown]
  PYTHONPATH=. python scripts/anchor_side_by_side.py --measure SITE --out FILE     # on the GPU machine
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROWS = [  # (label, key of ours, key of the anchor)
    ("LoRA/frozen base b4, no ckpt", ("train", 2048, 4, False), ("train", 2048, 4)),
    ("LoRA/frozen base b4, ckpt", ("train", 2048, 4, True), ("train", 2048, 4)),
    ("LoRA/frozen base b8, no ckpt", ("train", 2048, 8, False), ("train", 2048, 8)),
    ("LoRA/frozen base b8, ckpt", ("train", 2048, 8, True), ("train", 2048, 8)),
    ("seq 16,384 b1, no ckpt", ("long", 16384, 1, False), ("long", 16384, 1)),
    ("seq 16,384 b1, ckpt", ("long", 16384, 1, True), ("long", 16384, 1)),
    ("full fine-tuning b4", ("full", 2048, 4, False), ("full", 2048, 4)),
    ("decode b1", ("decode", None, 1, None), ("decode", None, 1)),
    ("decode b64", ("decode", None, 64, None), ("decode", None, 64)),
]


def ours_key(r: dict):
    return (r.get("bench"), r.get("seq"), r.get("batch"), r.get("grad_ckpt"))


def anchor_key(r: dict):
    return (r.get("bench"), r.get("seq"), r.get("batch"))


def read_jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def table(ours: list[dict], anchor: list[dict], markdown: bool) -> str:
    o = {ours_key(r): r for r in ours if "error" not in r}
    a = {anchor_key(r): r for r in anchor if "error" not in r}
    cards = sorted({r.get("card", "?") for r in [*o.values(), *a.values()]})
    head = ["shape", "ours tok/s", "ours GiB", "mamba_ssm tok/s", "mamba_ssm GiB", "tok/s ratio", "memory ratio"]
    lines = []
    for label, ok, ak in ROWS:
        mine, theirs = o.get(ok), a.get(ak)
        if mine is None and theirs is None:
            continue

        def f(r, k):
            return "—" if r is None or r.get(k) is None else f"{r[k]:,}"

        ratio = mem = "—"
        if mine and theirs and mine.get("tokens_per_s") and theirs.get("tokens_per_s"):
            ratio = f"{mine['tokens_per_s'] / theirs['tokens_per_s']:.2f}x"
        if mine and theirs and mine.get("peak_mem_gib") and theirs.get("peak_mem_gib"):
            mem = f"{mine['peak_mem_gib'] / theirs['peak_mem_gib']:.2f}x"
        lines.append([label, f(mine, "tokens_per_s"), f(mine, "peak_mem_gib"), f(theirs, "tokens_per_s"),
                      f(theirs, "peak_mem_gib"), ratio, mem])
    sources = sorted({r.get("source", "measured in this process") for r in a.values()})
    note = f"card(s): {', '.join(cards)}; anchor: {'; '.join(sources)}"
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in lines]
        return "\n".join(out) + f"\n\n{note}\n"
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, *lines]]
    return "\n".join(out) + f"\n{note}\n"


# ---- measuring (GPU machine only) -------------------------------------------------------------

def measure_anchor(site: str) -> list[dict]:
    """mamba_ssm's LM on the 2.8B shape, timed as our bench times ours (median of 4 steps)."""
    import torch

    sys.path.insert(0, site)
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

    card = torch.cuda.get_device_name()
    cfg = MambaConfig(d_model=2560, n_layer=64, vocab_size=50280, ssm_cfg={"layer": "Mamba1"}, rms_norm=True,
                      residual_in_fp32=True, fused_add_norm=True, pad_vocab_size_multiple=8)
    torch.manual_seed(0)
    model = MambaLMHeadModel(cfg, device="cuda", dtype=torch.bfloat16)

    def train(batch, seq, full, steps=4):
        for n, p in model.named_parameters():
            p.requires_grad_(full or "norm" in n)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        ids = torch.randint(0, 50000, (batch, seq), device="cuda")
        torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(steps + 1):
            torch.cuda.synchronize()
            t = time.perf_counter()
            logits = model(ids).logits
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            del logits, loss
            torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t)
        step = statistics.median(times)
        return {"tokens_per_s": round(batch * seq / step, 1), "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}

    recs = []
    for bench, seq, batch, full in (("train", 2048, 4, False), ("train", 2048, 8, False), ("long", 16384, 1, False),
                                    ("full", 2048, 4, True)):
        try:
            recs.append({"bench": bench, "seq": seq, "batch": batch, "card": card, **train(batch, seq, full)})
        except torch.OutOfMemoryError as err:
            recs.append({"bench": bench, "seq": seq, "batch": batch, "card": card, "error": str(err)[:200]})
        torch.cuda.empty_cache()
    with torch.no_grad():
        for batch in (1, 64):
            ids = torch.randint(0, 50000, (batch, 16), device="cuda")
            model.generate(ids, max_length=16 + 64, cg=True, top_k=1)
            torch.cuda.synchronize()
            t = time.perf_counter()
            model.generate(ids, max_length=16 + 64, cg=True, top_k=1)
            torch.cuda.synchronize()
            recs.append({"bench": "decode", "batch": batch, "card": card,
                         "tokens_per_s": round(batch * 64 / (time.perf_counter() - t), 1)})
    del model
    torch.cuda.empty_cache()
    return recs


def measure_ours() -> list[dict]:
    """Our bench on the rows' shapes, in this process (one model build per row)."""
    import torch

    from mambalign_runtime import bench

    device = torch.device("cuda")
    recs = []
    for seq, batch, ckpt, name in ((2048, 4, False, "train"), (2048, 4, True, "train"), (2048, 8, False, "train"),
                                   (2048, 8, True, "train"), (16384, 1, False, "long"), (16384, 1, True, "long")):
        args = bench.parse(["--what", name, "--steps", "4", "--warmup", "1", "--no-reference-layer",
                            "--grad-ckpt" if ckpt else "--no-grad-ckpt"])
        try:
            recs.append(bench.bench_train(args, device, seq, batch, name))
        except torch.OutOfMemoryError as err:
            recs.append({"bench": name, "seq": seq, "batch": batch, "grad_ckpt": ckpt, "error": str(err)[:200]})
        torch.cuda.empty_cache()
    recs += bench.bench_decode(bench.parse(["--what", "decode", "--decode-batch", "1,64", "--decode-tokens", "64"]),
                               device)
    return recs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", help="our bench JSON lines")
    ap.add_argument("--anchor", help="the anchor's JSON lines (earlier measurement)")
    ap.add_argument("--measure", metavar="SITE", help="measure ours and mamba_ssm (imported from SITE) here")
    ap.add_argument("--out", help="append every record measured here to this file")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    ours = read_jsonl(args.ours) if args.ours else []
    anchor = read_jsonl(args.anchor) if args.anchor else []
    if args.measure:
        ours, anchor = measure_ours(), [{**r, "source": "measured in this process"} for r in measure_anchor(args.measure)]
        if args.out:
            with open(args.out, "a") as f:
                for r in ours:
                    f.write(json.dumps(r) + "\n")
                for r in anchor:
                    f.write(json.dumps({"anchor": "mamba_ssm", **r}) + "\n")
    if not ours or not anchor:
        ap.error("need both columns: --ours and --anchor, or --measure SITE")
    print(table(ours, anchor, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
