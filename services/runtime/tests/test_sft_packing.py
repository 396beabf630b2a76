"""sft with packing — conversations packed into rows train exactly as they would alone.

The document boundaries live in the Triton kernels; without a GPU they run through Triton's CPU
interpreter (chosen before the kernels are imported)."""

import math
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from mambalign_runtime import kernels  # noqa: E402
from mambalign_runtime.data import ChatEncoder, collate  # noqa: E402
from mambalign_runtime.sft import PackedSftRows, sum_nll  # noqa: E402

from conftest import of_kind, run_inprocess, sft_spec, tiny_mamba, write_spec  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"



def conversations(tokenizer, words):
    encoder = ChatEncoder(tokenizer, 64, "chatTemplate")
    return [encoder.encode_conversation([{"role": "user", "content": f"reverse {w}"},
                                         {"role": "assistant", "content": w[::-1]}], True, "row") for w in words]


def test_a_packed_row_gives_the_loss_and_gradients_of_its_conversations_alone(restore_reference):
    kernels.install("fast")
    model, tokenizer = tiny_mamba(seed=6)
    model = model.to(DEVICE).train()
    rows = conversations(tokenizer, ["ab", "x"])  # 16 and 13 tokens: the interpreter is slow
    packed = PackedSftRows(rows, seq_len=32, pad_id=0)
    assert len(packed) == 1  # both share one row, with padding after them
    assert packed.targets(0) == sum(sum(mask[1:]) for _, mask in rows)

    batch = {k: v.to(DEVICE) for k, v in packed.collate([0]).items()}
    with packed.boundaries(model, batch):
        nll = packed.nll(model, batch)
        nll.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()

    alone = sum(sum_nll(model, {k: v.to(DEVICE) for k, v in collate([row], 0).items()})[0] for row in rows)
    alone.backward()
    assert math.isclose(float(nll.detach()), float(alone.detach()), rel_tol=1e-5)
    for name, p in model.named_parameters():
        err = ((grads[name] - p.grad).norm() / p.grad.norm().clamp_min(1e-12)).item()
        assert err < 1e-4, (name, err)


def test_sft_with_packing_trains(tmp_path, model_dir, demo_dir, restore_reference):
    # One step of one 48-token row: the interpreter makes anything bigger slow (boundaries under
    # gradient checkpointing are covered by test_kernels_model.py).
    spec = sft_spec(str(model_dir), demo_dir, tmp_path, maxSteps=1, perDeviceTrainBatchSize=1, maxSeqLength=48,
                    packing=True, lora={"enabled": True, "r": 4, "alpha": 8})
    spec["kernels"] = "fast"
    code, events = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "spec.json", spec))])
    assert code == 0, events
    progress = of_kind(events, "progress")
    assert len(progress) == 1 and all(math.isfinite(p["loss"]) for p in progress)
    assert of_kind(events, "finished")[0]["status"] == "completed"


def test_packing_without_the_fast_kernels_names_the_field(tmp_path, model_dir, demo_dir):
    spec = sft_spec(str(model_dir), demo_dir, tmp_path, maxSteps=1, packing=True)
    spec["kernels"] = "reference"
    code, events = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "spec.json", spec))])
    assert code == 2
    error = of_kind(events, "error")[-1]
    assert error["field"] == "train.args.packing" and "Triton kernels" in error["message"]
