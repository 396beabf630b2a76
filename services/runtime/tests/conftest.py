"""Shared fixtures: a tiny random Mamba saved as a model directory, small data files, and
helpers to run the runtime's CLI in-process or as a subprocess and read its events."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch
from transformers import MambaConfig, MambaForCausalLM

from mambalign_runtime.__main__ import main
from mambalign_runtime.demo_data import write_demo_data
from mambalign_runtime.preset import build_char_tokenizer

RUNTIME_DIR = Path(__file__).resolve().parents[1]

# Tiny models on a shared 2-core machine: one thread avoids oversubscription (10x slower under load).
torch.set_num_threads(1)
REPO_ROOT = RUNTIME_DIR.parents[1]
# Reference files inside the repository (READMEs beside them give source and licence).
BENCH_DATA_DIR = REPO_ROOT / "services" / "evaluator" / "benchmarks"
NEOX_TOKENIZER_DIR = REPO_ROOT / "test" / "data" / "tokenizer" / "gpt-neox-20b"


def tiny_mamba(seed: int = 0, hidden: int = 32, layers: int = 2):
    tokenizer = build_char_tokenizer()
    config = MambaConfig(vocab_size=104, hidden_size=hidden, state_size=8, num_hidden_layers=layers, expand=2,
                         conv_kernel=4, bos_token_id=0, eos_token_id=0, pad_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(seed)
    return MambaForCausalLM(config), tokenizer


@pytest.fixture
def restore_reference():
    """For tests that install the fast kernels: transformers' own Mamba code again afterwards."""
    yield
    from mambalign_runtime import kernels

    kernels.install("reference")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-mamba")
    model, tokenizer = tiny_mamba()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    write_demo_data(str(directory), seed=7)
    # Small slices keep every test fast.
    for name, n in (("sft_train", 64), ("dpo_train", 32), ("heldout", 12), ("heldout_prefs", 16)):
        path = directory / f"{name}.jsonl"
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:n]))
    return directory


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec))
    return path


def run_inprocess(args: list[str]) -> tuple[int, list[dict]]:
    """Run the CLI in this process; returns (exit code, events)."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(args)
    return code, [json.loads(line) for line in buffer.getvalue().splitlines()]


def spawn(args: list[str], **extra_env: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1", **extra_env}
    return subprocess.Popen([sys.executable, "-m", "mambalign_runtime", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=RUNTIME_DIR)


def of_kind(events: list[dict], kind: str) -> list[dict]:
    return [e[kind] for e in events if kind in e]


# The recipe's resolution of every default (core/src/recipe; recipe-defaults.test.ts keeps it in step):
# the runtime fills no gap, so test specs start from what the control plane would send.
RECIPE_DEFAULTS = json.loads((Path(__file__).parent / "fixtures" / "recipe-defaults.json").read_text())


def train_args(kind: str = "sft", **over) -> dict:
    """Resolved training arguments of an SFT or DPO stage with `over` on top (proto3 JSON names);
    per-step logging, a linear schedule without warm-up unless a test says otherwise. As in the
    recipe, a global batch leaves the accumulation to the runtime (0)."""
    derived = {"gradientAccumulationSteps": 0} if over.get("globalBatchSize") else {}
    return {**copy.deepcopy(RECIPE_DEFAULTS[kind]["args"]), "loggingSteps": 1, "lrSchedulerType": "linear",
            "warmupRatio": 0.0, **derived, **over}


def dpo_args(**over) -> dict:
    return {**RECIPE_DEFAULTS["dpo"]["dpo"], **over}


def sft_spec(model: str, data: Path, out: Path, **args) -> dict:
    base = train_args("sft", **{"learningRate": 0.01, "maxSteps": 6, "perDeviceTrainBatchSize": 8, "saveSteps": 1000,
                                "seed": 3, **args})
    return {"command": "sft", "model": model, "outputDir": str(out),
            "train": {"trainFile": str(data / "sft_train.jsonl"), "args": base}}


@pytest.fixture(scope="session")
def sft_run(tmp_path_factory, model_dir, demo_dir) -> tuple[Path, list[dict]]:
    """A short LoRA SFT run on the tiny model: (output dir, events)."""
    out = tmp_path_factory.mktemp("sft-run")
    spec = sft_spec(str(model_dir), demo_dir, out, maxSteps=16, learningRate=0.06, assistantOnlyLoss=True,
                    lora={"enabled": True, "r": 4, "alpha": 8})
    code, events = run_inprocess(["sft", "--spec", str(write_spec(out / "spec.json", spec))])
    assert code == 0, events
    return out, events
