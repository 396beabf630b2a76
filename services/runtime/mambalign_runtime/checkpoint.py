"""Checkpoints: `<output_dir>/checkpoints/step-<N>/`, written to a temp dir and renamed into place.

A checkpoint holds the trainable weights (PEFT adapter, or the full model), the optimiser,
scheduler and RNG states, the trainer state (step = data position) and the resolved spec,
plus whatever the algorithm adds (DPO: the reference log-probs).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .errors import InvalidInput

STATE_FILE = "trainer_state.json"


def rng_state() -> dict[str, Any]:
    """This process's CPU and current-GPU RNG streams."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state: dict[str, Any], rank: int = 0, world_size: int = 1) -> None:
    """Restore this rank's RNG streams. A data-parallel checkpoint keeps every rank's under "ranks";
    resumed on another world size, the ranks it did not have start from rank 0's streams."""
    ranks = state.get("ranks")
    if ranks and len(ranks) == world_size:
        state = ranks[rank]
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # Only this process's device: under torchrun each rank drives one GPU.
        torch.cuda.set_rng_state(state["cuda"][0] if isinstance(state["cuda"], list) else state["cuda"])


def save_checkpoint(output_dir: str, step: int, model, tokenizer, optimizer, scheduler, trainer_state: dict[str, Any],
                    resolved_spec: dict[str, Any], extra_tensors: dict[str, Any] | None = None,
                    rng: dict[str, Any] | None = None) -> Path:
    root = Path(output_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step}"
    tmp = root / f".tmp-step-{step}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    # A PeftModel saves only its adapter; a plain model saves its full weights.
    weights = tmp / ("adapter" if hasattr(model, "peft_config") else "model")
    model.save_pretrained(weights, safe_serialization=True)
    tokenizer.save_pretrained(weights)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(rng if rng is not None else rng_state(), tmp / "rng.pt")
    for name, value in (extra_tensors or {}).items():
        torch.save(value, tmp / f"{name}.pt")
    (tmp / "spec.json").write_text(json.dumps(resolved_spec, indent=2, default=str))
    (tmp / STATE_FILE).write_text(json.dumps({**trainer_state, "step": step}, indent=2))
    if final.exists():
        # Re-saving a step (a resumed run reaching it again): swap, then drop the old copy.
        old = root / f".old-step-{step}-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old)
    else:
        tmp.rename(final)
    return final


def read_checkpoint(directory: str, field: str) -> dict[str, Any]:
    path = Path(directory)
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise InvalidInput(f"{field}: {directory} is not a checkpoint (no {STATE_FILE})", field=field)
    return json.loads(state_file.read_text())


def load_tensors(directory: str, name: str) -> Any:
    return torch.load(Path(directory) / f"{name}.pt", map_location="cpu", weights_only=True)
