"""dpo reference cache — the first pass is cached under a key of (model, data, lengths), reused by a
second run given the same directory, and DPO evaluates on the eval file every evalSteps."""

import torch

from mambalign_runtime.reference_cache import PREFIX

from conftest import dpo_args, of_kind, run_inprocess, train_args, write_spec


def dpo_spec(model_dir, demo_dir, out, cache_dir, **dpo):
    return {"command": "dpo", "model": str(model_dir), "outputDir": str(out),
            "train": {"trainFile": str(demo_dir / "dpo_train.jsonl"), "evalFile": str(demo_dir / "heldout_prefs.jsonl"),
                      "referenceCacheDir": str(cache_dir),
                      "args": train_args("dpo", learningRate=0.02, maxSteps=4, perDeviceTrainBatchSize=8, seed=1,
                                         evalSteps=2, lora={"enabled": True, "r": 4, "alpha": 8}),
                      "dpo": dpo_args(beta=0.5, **dpo)}}


def run(tmp_path, name, spec):
    code, events = run_inprocess(["dpo", "--spec", str(write_spec(tmp_path / f"{name}.json", spec))])
    assert code == 0, events
    return events


def test_second_run_reuses_the_cached_first_pass(tmp_path, model_dir, demo_dir):
    cache = tmp_path / "cache"
    first = run(tmp_path, "first", dpo_spec(model_dir, demo_dir, tmp_path / "a", cache))
    assert of_kind(first, "started")[0]["versions"]["dpo.reference_logps"].startswith("computed:")
    files = sorted(cache.glob(f"{PREFIX}*.pt"))
    assert len(files) == 2  # train and eval files
    train_cache = of_kind(first, "started")[0]["versions"]["dpo.reference_logps"].split(":", 1)[1]

    # Shift the cached reference of every chosen answer: if the second run reads the cache, step 1's
    # chosen reward is beta * (policy - (reference + 1)) = -beta exactly.
    cached = torch.load(train_cache, weights_only=True)
    cached["chosen"] = cached["chosen"] + 1.0
    torch.save(cached, train_cache)
    second = run(tmp_path, "second", dpo_spec(model_dir, demo_dir, tmp_path / "b", cache))
    assert of_kind(second, "started")[0]["versions"]["dpo.reference_logps"] == f"cache hit:{train_cache}"
    assert abs(of_kind(second, "progress")[0]["extra"]["rewards/chosen"] + 0.5) < 1e-5

    # Other lengths are another key: computed afresh, the shifted file is not used.
    third = run(tmp_path, "third", dpo_spec(model_dir, demo_dir, tmp_path / "c", cache, maxPromptLength=8))
    assert of_kind(third, "started")[0]["versions"]["dpo.reference_logps"].startswith("computed:")
    assert abs(of_kind(third, "progress")[0]["extra"]["rewards/chosen"]) < 1e-5


def test_eval_reports_rewards_every_eval_steps(tmp_path, model_dir, demo_dir):
    events = run(tmp_path, "eval", dpo_spec(model_dir, demo_dir, tmp_path / "out", tmp_path / "out"))
    evals = of_kind(events, "metrics")
    assert [m["step"] for m in evals] == [2, 4] and {m["phase"] for m in evals} == {"eval"}
    assert {"eval/loss", "eval/rewards/chosen", "eval/rewards/rejected", "eval/rewards/accuracies",
            "eval/rewards/margins"} <= set(evals[0]["values"])
    # Defaults to the output directory.
    assert len(list((tmp_path / "out").glob(f"{PREFIX}*.pt"))) == 2
