"""The trainer's SFT step against `bench`'s train step, in one process on one GPU (issue 16: the
trainer's own entry within 10% of the bench at the same micro-batch).

  PYTHONUNBUFFERED=1 PYTHONPATH=. python3 scripts/gpu_trainer_vs_bench.py [--batch 4 --seq 2048 --steps 8]

2.8B shape, random weights, LoRA r16 on the four projections, gradient checkpointing, bf16
autocast. One JSON line per measurement:
  bench           bench.bench_train (bf16 weights, the shared loss `lm_loss.next_token_nll`)
  bench_hf_loss   the same with the bench's former loss, transformers' `labels=` cross-entropy
  trainer         run_sft through the trainer's code (fp32 master weights), tokens/s as its
                  progress events report them (median over steps after the first 2), plus a
                  per-step split (forward+loss / backward / optimiser / host) from CUDA events
  trainer_before  the same with this change undone in-process: frozen weights fp32, fp32 activations
                  into the mixer, attention mask and full fp32 logits (the former loss), AdamW with
                  fused=False (no foreach), a float(loss) sync after every micro-batch's backward
  trainer_plain_loss  this change but the former (full logits) loss, no attention mask
  loss            the loss alone (forward+backward): transformers' cross-entropy, the former trainer
                  loss, the chunked one at chunk sizes 1024..8192, with time, peak memory, differences
Each run is in its own try/except; a failure prints an error line and the next one runs.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

RUNTIME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(RUNTIME))
REPO = RUNTIME.parents[1]
TOKENIZER = REPO / "test" / "data" / "tokenizer" / "gpt-neox-20b"


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_bench(ns, hf_loss: bool) -> dict:
    from mambalign_runtime import bench

    original = bench._train_step_fn
    if hf_loss:
        def old_step_fn(model, batch, seq, vocab, device, opt):
            ids = torch.randint(0, vocab, (batch, seq), device=device, generator=torch.Generator(device).manual_seed(1))

            def step():
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    loss = model(input_ids=ids, labels=ids).loss
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            return step
        bench._train_step_fn = old_step_fn
    try:
        args = argparse.Namespace(shape="mamba-2.8b", kernels="fast", grad_ckpt=True, lora_r=16, steps=ns.steps - 2,
                                  warmup=2, reference_layer=False)
        rec = bench.bench_train(args, torch.device("cuda"), ns.seq, ns.batch, "bench_hf_loss" if hf_loss else "bench")
    finally:
        bench._train_step_fn = original
    return {k: rec[k] for k in ("bench", "card", "batch", "seq", "tokens_per_s", "step_ms", "step_ms_all", "peak_mem_gib", "mfu")}


def run_loss(ns) -> dict:
    """The loss alone at the step's shape (b*L rows of the 2.8B width, vocab 50,280), forward and
    backward under bf16 autocast with an fp32 frozen head (the trainer's): transformers'
    `labels=` cross-entropy, the former trainer loss, and the chunked loss at several chunk sizes."""
    from mambalign_runtime import bench, lm_loss
    from mambalign_runtime.data import next_token_logps

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    b, L, H, V = ns.batch, ns.seq, 2560, 50280
    g = torch.Generator(dev).manual_seed(0)
    head = torch.nn.Linear(H, V, bias=False, device=dev).requires_grad_(False)
    x = torch.randn(b, L, H, device=dev, generator=g, requires_grad=True)
    ids = torch.randint(0, V, (b, L), device=dev, generator=g)
    weights = torch.ones(b, L - 1, device=dev)

    class Out:
        def __init__(self, hidden, logits):
            self.hidden_states, self.logits = (hidden,), logits

    def model(input_ids, logits_to_keep=0, output_hidden_states=False):
        h = x * 1.0  # a fresh node, as the backbone's output is
        return Out(h, head(h[:, -logits_to_keep:] if logits_to_keep else h).float())

    def hf():
        from transformers.loss.loss_utils import ForCausalLMLoss
        return ForCausalLMLoss(model(ids).logits, ids, V)

    def plain():
        return -(next_token_logps(model(ids).logits, ids) * weights).sum() / weights.numel()

    def chunked():
        return lm_loss.next_token_nll(model, ids, weights, head, scale=1 / weights.numel())

    out = {"bench": "loss", "card": bench._card(), "rows": b * L, "vocab": V, "default_chunk": lm_loss.CHUNK_TOKENS}
    default_chunk = lm_loss.CHUNK_TOKENS
    ref = None
    for name, fn, chunk in [("hf_cross_entropy", hf, None), ("former_trainer", plain, None)] + \
            [(f"chunked_{c}", chunked, c) for c in (1024, 2048, 4096, 8192)]:
        if chunk:
            lm_loss.CHUNK_TOKENS = chunk

        def step():
            x.grad = None
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                loss = fn()
            loss.backward()
            return loss
        free()
        loss = step()
        ref = ref if ref is not None else (loss.detach(), x.grad.clone())
        ms = statistics.median(bench._sync_time(step, 5, 1)) * 1e3
        out[name] = {"ms": round(ms, 2), "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if dev.type == "cuda" else None,
                     "loss_diff": float(f"{(loss.detach() - ref[0]).abs().item():.2e}"),
                     "grad_rel_diff": float(f"{((x.grad - ref[1]).norm() / ref[1].norm()).item():.2e}")}
    lm_loss.CHUNK_TOKENS = default_chunk
    return out


def write_data(work: Path, rows: int) -> Path:
    """Conversations longer than seq (long_demo_data's), a few distinct ones repeated: every row is cut to seq."""
    sys.path.insert(0, str(RUNTIME / "scripts"))
    import random

    from long_demo_data import history
    from mambalign_runtime.preset import gpt_neox_tokenizer

    tok = gpt_neox_tokenizer(str(TOKENIZER))
    rng = random.Random(0)
    distinct = [history(rng, tok, NS.seq) for _ in range(4)]
    path = work / "sft_train.jsonl"
    with path.open("w") as f:
        for i in range(rows):
            f.write(json.dumps({"messages": distinct[i % len(distinct)]}) + "\n")
    return path


class _WallEvent:
    """A CPU stand-in for torch.cuda.Event (a smoke run without a GPU)."""

    def record(self) -> None:
        self.t = time.perf_counter()

    def elapsed_time(self, other) -> float:
        return (other.t - self.t) * 1e3


class StepTimer:
    """CUDA events around the trainer's micro-batch forward+loss, and its optimiser step."""

    def __init__(self):
        self.marks: list[dict[str, torch.cuda.Event]] = []
        self.walls: list[float] = []

    def mark(self, name: str) -> None:
        e = torch.cuda.Event(enable_timing=True) if torch.cuda.is_available() else _WallEvent()
        e.record()
        if name == "fwd0":
            self.marks.append({})
            self.walls.append(time.perf_counter())
        self.marks[-1][name] = e

    def split(self) -> dict:
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        rows = []
        for i, m in enumerate(self.marks[:-1]):
            nxt = self.marks[i + 1]["fwd0"]
            rows.append({"fwd_loss_ms": m["fwd0"].elapsed_time(m["fwd1"]), "bwd_ms": m["fwd1"].elapsed_time(m["opt0"]),
                         "opt_ms": m["opt0"].elapsed_time(m["opt1"]), "gpu_gap_to_next_ms": m["opt1"].elapsed_time(nxt),
                         "wall_ms": (self.walls[i + 1] - self.walls[i]) * 1e3})
        steady = rows[2:] or rows
        return {k: round(statistics.median(r[k] for r in steady), 2) for k in steady[0]} if steady else {}


def run_trainer(ns, data: Path, variant: str) -> dict:
    from mambalign_runtime import lm_loss, sft, training
    from mambalign_runtime.data import token_logps
    from mambalign_runtime.events import EventWriter
    from mambalign_runtime.kernels import patch
    from mambalign_runtime.spec import load_spec

    from mambalign_runtime import optim

    saved = {"store": training.store_frozen_matmul_weights, "dtype": patch._mixer_input_dtype,
             "nll": sft.PaddedRows.nll, "opt": sft.optimizer_step, "build": optim.build,
             "backward": training.Session.backward}
    if variant == "trainer_before":
        training.store_frozen_matmul_weights = lambda *a, **k: []
        patch._mixer_input_dtype = lambda *a, **k: None

        def old_build(name, params, device, lr, betas, eps, weight_decay):  # fused=False: no foreach
            return torch.optim.AdamW(params, fused=False, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

        def old_backward(session, loss):  # the former per-micro-batch float(loss)
            saved["backward"](session, loss)
            float(loss.detach())
        optim.build = old_build
        training.Session.backward = old_backward

        def old_nll(model, batch, scale=1.0):
            logps, weights = token_logps(model, batch)
            return -(logps * weights).sum() * scale
        sft.PaddedRows.nll = staticmethod(old_nll)
    elif variant == "trainer_plain_loss":
        sft.PaddedRows.nll = staticmethod(lambda model, batch, scale=1.0: lm_loss.plain_next_token_nll(
            model, batch["input_ids"], batch["loss_mask"][:, 1:].float() * scale))
    timer = StepTimer()
    inner_nll = sft.PaddedRows.nll

    def timed_nll(model, batch, *scale):
        timer.mark("fwd0")
        out = inner_nll(model, batch, *scale)
        timer.mark("fwd1")
        return out

    def timed_opt(session):
        timer.mark("opt0")
        out = saved["opt"](session)
        timer.mark("opt1")
        return out
    sft.PaddedRows.nll = staticmethod(timed_nll)
    sft.optimizer_step = timed_opt
    out = Path(tempfile.mkdtemp(prefix=variant + "-"))
    args = {"maxSteps": ns.steps, "gradientCheckpointing": True, "torchDtype": "bfloat16", "maxSeqLength": ns.seq,
            "lrSchedulerType": "cosine", "warmupRatio": 0.05, "saveSteps": 100000, "loggingSteps": 1, "seed": 1,
            "lora": {"enabled": True, "r": 16, "alpha": 32, "targetModules": ["in_proj", "x_proj", "dt_proj", "out_proj"]},
            "numTrainEpochs": 1, "perDeviceEvalBatchSize": ns.batch, "gradientAccumulationSteps": 0,
            "optim": "adamw_torch", "adamBeta1": 0.9, "adamBeta2": 0.999, "adamEpsilon": 1e-8, "maxGradNorm": 1.0,
            "learningRate": 2e-4, "perDeviceTrainBatchSize": ns.batch, "globalBatchSize": ns.batch}
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps({"command": "sft", "model": ns.model, "outputDir": str(out / "run"),
                                     "kernels": "auto", "train": {"trainFile": str(data), "args": args}}))
    stream = io.StringIO()
    t0 = time.time()
    try:
        spec = load_spec(str(spec_path))
        spec.command = "sft"
        code = sft.run_sft(spec, EventWriter(stream), "")
    finally:
        training.store_frozen_matmul_weights = saved["store"]
        patch._mixer_input_dtype = saved["dtype"]
        sft.PaddedRows.nll = saved["nll"]
        sft.optimizer_step = saved["opt"]
        optim.build = saved["build"]
        training.Session.backward = saved["backward"]
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    progress = [e["progress"] for e in events if "progress" in e]
    steady = progress[2:] or progress
    tps = statistics.median(p["tokensPerS"] for p in steady)
    return {"bench": variant, "card": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "batch": ns.batch, "seq": ns.seq, "exit": code,
            "tokens_per_s": round(tps, 1), "tokens_per_s_all": [round(p["tokensPerS"]) for p in progress],
            "step_ms_from_tokens_per_s": round(ns.batch * ns.seq / tps * 1e3, 1),
            "peak_mem_gib": round(max(p.get("gpuMemGib", 0) for p in progress), 2),
            "losses": [round(p["loss"], 4) for p in progress], "split_median_ms": timer.split(),
            "wall_s": round(time.time() - t0, 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--model", default="preset:mamba-2.8b-random", help="the trainer's model (a small one: CPU smoke run)")
    parser.add_argument("--only", default="bench,trainer,trainer_before,trainer_plain_loss,bench_hf_loss")
    global NS
    NS = parser.parse_args()
    os.environ.setdefault("MAMBALIGN_TOKENIZER_DIR", str(TOKENIZER))
    failed = False
    work = Path(tempfile.mkdtemp(prefix="trainer-vs-bench-"))
    data = None
    for what in NS.only.split(","):
        t0 = time.time()
        try:
            if what == "loss":
                rec = run_loss(NS)
            elif what.startswith("bench"):
                rec = run_bench(NS, hf_loss=what == "bench_hf_loss")
            else:
                data = data or write_data(work, NS.steps * NS.batch + 8)
                rec = run_trainer(NS, data, what)
            rec["elapsed_s"] = round(time.time() - t0, 1)
            emit(rec)
        except Exception as err:  # report and go on with the next measurement
            failed = True
            emit({"bench": what, "error": repr(err)[:500], "trace": traceback.format_exc()[-2000:]})
        free()
    return 1 if failed else 0


NS = None

if __name__ == "__main__":
    sys.exit(main())
