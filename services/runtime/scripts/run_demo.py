"""Run the demo end to end (demo-data -> SFT -> merge -> DPO -> generate/score) and print the
before/after table: held-out exact match, held-out preference accuracy, perplexity, wall time.

  python scripts/run_demo.py --work /tmp/demo [--sft-steps 150 --dpo-steps 200]

Each stage is `python -m mambalign_runtime <command> --spec ...`, exactly as the trainer runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parents[1]

# The runtime fills no default (the recipe resolves them in mambalign's control plane): every value is spelled out.
COMMON = {"numTrainEpochs": 1, "perDeviceEvalBatchSize": 32, "gradientAccumulationSteps": 1, "maxSeqLength": 256,
          "torchDtype": "auto", "optim": "adamw_torch", "adamBeta1": 0.9, "adamBeta2": 0.999, "adamEpsilon": 1e-8,
          "maxGradNorm": 1.0, "saveEveryMinutes": 10}
SFT_ARGS = {**COMMON, "learningRate": 0.004, "lrSchedulerType": "cosine", "warmupRatio": 0.05, "perDeviceTrainBatchSize": 32,
            "assistantOnlyLoss": True, "loggingSteps": 25, "saveSteps": 1000, "seed": 1,
            "lora": {"enabled": True, "r": 64, "alpha": 64,
                     "targetModules": ["in_proj", "x_proj", "dt_proj", "out_proj", "embeddings"]}}
DPO_ARGS = {**COMMON, "learningRate": 0.002, "lrSchedulerType": "cosine", "warmupRatio": 0.05, "perDeviceTrainBatchSize": 16,
            "loggingSteps": 25, "saveSteps": 1000, "seed": 1,
            "lora": {"enabled": True, "r": 16, "alpha": 32}}
DPO = {"beta": 0.2, "lossType": "sigmoid", "maxLength": 256, "maxPromptLength": 128}


def stage(work: Path, name: str, command: str, spec: dict) -> tuple[list[dict], float]:
    spec_path = work / f"{name}.json"
    spec_path.write_text(json.dumps({"command": command, **spec}))
    started = time.time()
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_DIR), "LOG_LEVEL": "WARNING"}
    proc = subprocess.run([sys.executable, "-m", "mambalign_runtime", command, "--spec", str(spec_path)],
                          capture_output=True, text=True, env=env)
    wall = time.time() - started
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}): {events[-1] if events else ''}\n{proc.stderr[-3000:]}")
    print(f"{name:>14}: {wall:6.1f}s", file=sys.stderr)
    return events, wall


def evaluate(work: Path, data: Path, name: str, model: str, adapter: str = "") -> tuple[dict, float]:
    common = {"model": model, **({"adapter": adapter} if adapter else {})}
    gen_out = work / name / "generations.jsonl"
    _, t1 = stage(work, f"{name}-generate", "generate", {
        **common, "outputDir": str(work / name),
        "generate": {"promptsFile": str(data / "heldout.jsonl"), "outputFile": str(gen_out), "maxNewTokens": 12,
                     "batchSize": 50}})
    events, t2 = stage(work, f"{name}-score", "score", {
        **common, "outputDir": str(work / name),
        "score": {"prefsFile": str(data / "heldout_prefs.jsonl"), "sftFile": str(data / "heldout.jsonl"),
                  "batchSize": 50}})
    answers = {}
    for line in (data / "heldout.jsonl").read_text().splitlines():
        row = json.loads(line)
        answers[row["id"]] = row["messages"][-1]["content"]
    outputs = [json.loads(line) for line in gen_out.read_text().splitlines()]
    values = next(e["metrics"]["values"] for e in events if "metrics" in e)
    values["eval/exact_match"] = sum(o["output"] == answers[o["id"]] for o in outputs) / len(outputs)
    return values, t1 + t2


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--sft-steps", type=int, default=150)
    p.add_argument("--dpo-steps", type=int, default=200)
    p.add_argument("--dpo-lr", type=float, default=DPO_ARGS["learningRate"])
    p.add_argument("--beta", type=float, default=DPO["beta"])
    p.add_argument("--rpo-alpha", type=float, default=1.0, help="NLL weight on chosen (TRL's rpo_alpha)")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "mambalign_runtime", "demo-data", "--out", str(data)], check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(RUNTIME_DIR)})
    model = "preset:tiny-mamba-char"
    rows, times = {}, {}
    rows["base"], times["eval base"] = evaluate(work, data, "eval-base", model)
    _, times["sft"] = stage(work, "sft", "sft", {
        "model": model, "outputDir": str(work / "sft"),
        "train": {"trainFile": str(data / "sft_train.jsonl"), "args": {**SFT_ARGS, "maxSteps": a.sft_steps}}})
    _, times["merge"] = stage(work, "merge", "merge", {"model": model, "adapter": str(work / "sft" / "adapter"),
                                                       "outputDir": str(work / "sft")})
    merged = str(work / "sft" / "merged")
    rows["sft"], times["eval sft"] = evaluate(work, data, "eval-sft", merged)
    _, times["dpo"] = stage(work, "dpo", "dpo", {
        "model": merged, "outputDir": str(work / "dpo"),
        "train": {"trainFile": str(data / "dpo_train.jsonl"), "args": {**DPO_ARGS, "maxSteps": a.dpo_steps, "learningRate": a.dpo_lr},
                  "dpo": {**DPO, "beta": a.beta, "rpoAlpha": a.rpo_alpha}}})
    rows["sft+dpo"], times["eval dpo"] = evaluate(work, data, "eval-dpo", merged, str(work / "dpo" / "adapter"))
    total = time.time() - t0
    print("| model | held-out exact match | held-out preference accuracy | held-out perplexity |")
    print("|---|---|---|---|")
    for name, v in rows.items():
        print(f"| {name} | {v['eval/exact_match']:.3f} | {v['eval/preference_accuracy']:.3f} | "
              f"{v['eval/perplexity']:.3f} |")
    print()
    print("| stage | wall s |")
    print("|---|---|")
    for name, t in times.items():
        print(f"| {name} | {t:.1f} |")
    print(f"| **total** | {total:.1f} |")


if __name__ == "__main__":
    main()
