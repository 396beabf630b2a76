"""resume — SIGTERM mid-run checkpoints and exits 75; --resume continues with the same losses."""

import itertools
import json
import signal
import time

from conftest import of_kind, run_inprocess, sft_spec, spawn, write_spec

STEPS = 120


def spec_for(model_dir, demo_dir, out):
    # LoRA dropout > 0 makes the losses depend on the restored RNG state too.
    return sft_spec(str(model_dir), demo_dir, out, maxSteps=STEPS, learningRate=0.01, saveSteps=50,
                    lrSchedulerType="cosine", warmupRatio=0.1, gradientAccumulationSteps=2,
                    lora={"enabled": True, "r": 4, "alpha": 8, "dropout": 0.1})


def test_sigterm_checkpoints_and_resume_matches_an_uninterrupted_run(tmp_path, model_dir, demo_dir):
    out = tmp_path / "preempted"
    spec = write_spec(tmp_path / "spec.json", spec_for(model_dir, demo_dir, out))
    proc = spawn(["sft", "--spec", str(spec)])
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if "progress" in events[-1] and events[-1]["progress"]["step"] >= 3:
            proc.send_signal(signal.SIGTERM)
            break
    events += [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=120) == 75, proc.stderr.read()
    saved = of_kind(events, "checkpointSaved")[-1]
    stopped_at = saved["step"]
    assert saved["reason"] == "sigterm" and 3 <= stopped_at < STEPS
    assert of_kind(events, "finished") == [{"status": "preempted", "step": stopped_at,
                                            "wallS": of_kind(events, "finished")[0]["wallS"]}]
    checkpoint = out / "checkpoints" / f"step-{stopped_at}"
    assert saved["dir"] == str(checkpoint)
    for name in ("adapter/adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt", "spec.json",
                 "trainer_state.json"):
        assert (checkpoint / name).is_file(), name
    assert not list((out / "checkpoints").glob(".tmp-*"))

    code, resumed = run_inprocess(["sft", "--spec", str(spec), "--resume", str(checkpoint)])
    assert code == 0
    assert of_kind(resumed, "started")[0]["startStep"] == stopped_at

    straight_spec = write_spec(tmp_path / "straight.json", spec_for(model_dir, demo_dir, tmp_path / "straight"))
    code, straight = run_inprocess(["sft", "--spec", str(straight_spec)])
    assert code == 0
    expected = {p["step"]: p["loss"] for p in of_kind(straight, "progress")}
    got = {p["step"]: p["loss"] for p in of_kind(resumed, "progress")}
    assert sorted(got) == list(range(stopped_at + 1, STEPS + 1))
    for step, loss in got.items():
        assert abs(loss - expected[step]) <= 1e-6, (step, loss, expected[step])


def test_stage_shorter_than_save_steps_checkpoints_by_time_and_resumes_from_it(tmp_path, model_dir, demo_dir,
                                                                                 monkeypatch):
    """saveSteps 1000 on a 6-step stage: before saveEveryMinutes, a kill before the end lost every step.
    The clock is driven by the loop (40 s per reading), not by sleeping."""
    from mambalign_runtime import training

    ticks = itertools.count(0, 40)
    monkeypatch.setattr(training, "clock", lambda: float(next(ticks)))
    out = tmp_path / "timed"
    spec = write_spec(tmp_path / "timed.json", sft_spec(str(model_dir), demo_dir, out, maxSteps=6, saveSteps=1000,
                                                         saveEveryMinutes=1.0,
                                                         lora={"enabled": True, "r": 4, "alpha": 8, "dropout": 0.1}))
    code, events = run_inprocess(["sft", "--spec", str(spec)])
    assert code == 0, events
    saved = [(c["step"], c["reason"]) for c in of_kind(events, "checkpointSaved")]
    assert saved == [(2, "time"), (4, "time"), (6, "final")]

    # As after a SIGKILL past step 4: the next delivery resumes from the newest checkpoint.
    monkeypatch.setattr(training, "clock", time.monotonic)
    code, resumed = run_inprocess(["sft", "--spec", str(spec), "--resume", str(out / "checkpoints" / "step-4")])
    assert code == 0, resumed
    assert of_kind(resumed, "started")[0]["startStep"] == 4
    expected = {p["step"]: p["loss"] for p in of_kind(events, "progress")}
    got = {p["step"]: p["loss"] for p in of_kind(resumed, "progress")}
    assert sorted(got) == [5, 6]
    for step, loss in got.items():
        assert abs(loss - expected[step]) <= 1e-6, (step, loss, expected[step])
