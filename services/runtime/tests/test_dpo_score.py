"""dpo and score — preference training reports TRL's metrics, keeps reference log-probs, and
raises the preference accuracy that `score` measures."""

import json

import torch

from mambalign_runtime.checkpoint import load_tensors

from conftest import dpo_args, of_kind, run_inprocess, train_args, write_spec

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
                      "args": train_args("dpo", learningRate=0.02, maxSteps=12, perDeviceTrainBatchSize=8, seed=1,
                                         lora={"enabled": True, "r": 4, "alpha": 8}),
                      "dpo": dpo_args(beta=0.5)}}
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


def test_rpo_alpha_adds_the_chosen_nll_to_the_first_step_loss(tmp_path, model_dir, demo_dir):
    """Step 1 runs at policy == reference: plain DPO loss is ln 2; with rpo_alpha it grows by alpha x NLL > 0."""
    losses = {}
    for alpha in (0.0, 1.0):
        out = tmp_path / f"rpo-{alpha}"
        spec = {"command": "dpo", "model": str(model_dir), "outputDir": str(out),
                "train": {"trainFile": str(demo_dir / "dpo_train.jsonl"),
                          "args": train_args("dpo", learningRate=0.01, maxSteps=1, perDeviceTrainBatchSize=8, seed=1,
                                             lora={"enabled": True, "r": 4, "alpha": 8}),
                          "dpo": dpo_args(beta=0.5, rpoAlpha=alpha)}}
        code, events = run_inprocess(["dpo", "--spec", str(write_spec(tmp_path / f"rpo-{alpha}.json", spec))])
        assert code == 0, events
        losses[alpha] = of_kind(events, "progress")[0]["loss"]
    assert abs(losses[0.0] - 0.6931472) < 1e-4
    assert losses[1.0] > losses[0.0] + 0.5  # a random tiny model's per-token NLL is several nats
    bad = {"command": "dpo", "model": str(model_dir), "outputDir": str(tmp_path / "bad"),
           "train": {"trainFile": str(demo_dir / "dpo_train.jsonl"), "args": train_args("dpo"),
                     "dpo": dpo_args(rpoAlpha=-1)}}
    code, events = run_inprocess(["dpo", "--spec", str(write_spec(tmp_path / "bad.json", bad))])
    assert code == 2 and of_kind(events, "error")[0]["field"] == "train.dpo.rpoAlpha"
