"""dpo and score — preference training reports TRL's metrics, keeps reference log-probs, and
raises the preference accuracy that `score` measures."""

import json

import torch

from mambalign_runtime.checkpoint import load_tensors

from conftest import of_kind, run_inprocess, write_spec

METRICS = {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
           "logps/rejected"}


def score(tmp_path, model, adapter, demo_dir, name):
    spec = {"model": str(model), "outputDir": str(tmp_path / name),
            "score": {"prefsFile": str(demo_dir / "dpo_train.jsonl"), "sftFile": str(demo_dir / "heldout.jsonl")}}
    if adapter:
        spec["adapter"] = str(adapter)
    code, events = run_inprocess(["score", "--spec", str(write_spec(tmp_path / f"{name}.json", spec))])
    assert code == 0, events
    (metrics,) = of_kind(events, "metrics")
    assert metrics["phase"] == "score"
    assert json.loads((tmp_path / name / "scores.json").read_text()) == metrics["values"]
    return metrics["values"]


def test_dpo_trains_on_preferences_and_score_sees_it(tmp_path, model_dir, demo_dir):
    out = tmp_path / "dpo"
    spec = {"command": "dpo", "model": str(model_dir), "outputDir": str(out),
            "train": {"trainFile": str(demo_dir / "dpo_train.jsonl"),
                      "args": {"learningRate": 0.02, "maxSteps": 12, "perDeviceTrainBatchSize": 8, "seed": 1,
                               "lora": {"enabled": True, "r": 4, "alpha": 8}},
                      "dpo": {"beta": 0.5}}}
    code, events = run_inprocess(["dpo", "--spec", str(write_spec(tmp_path / "dpo.json", spec))])
    assert code == 0, events
    progress = of_kind(events, "progress")
    assert len(progress) == 12 and all(set(p["extra"]) == METRICS for p in progress)
    # Step 1 runs before any update: the policy is the reference, so rewards are zero.
    assert abs(progress[0]["extra"]["rewards/margins"]) < 1e-5
    assert progress[-1]["extra"]["rewards/margins"] > 0
    refs = load_tensors(str(out / "checkpoints" / "step-12"), "reference_logps")["train"]
    assert refs["chosen"].shape == refs["rejected"].shape == torch.Size([32])

    before = score(tmp_path, model_dir, None, demo_dir, "before")
    after = score(tmp_path, model_dir, out / "adapter", demo_dir, "after")
    assert before["eval/preference_pairs"] == 32 and before["eval/perplexity"] > 1
    assert after["eval/preference_accuracy"] > before["eval/preference_accuracy"]
    # The reference log-probs are the base model's: the scores before training agree with them.
    assert abs(before["eval/logps/chosen"] - float(refs["chosen"].mean())) < 1e-3
