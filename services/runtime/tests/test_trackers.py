"""report_to — what each tracker holds after a real run, read back with the tracker's own reader:
TensorBoard event files (tensorboard's EventAccumulator), W&B offline run files (`wandb leet inspect
--json`, wandb's transaction-log reader), and a real MLflow tracking server on loopback (its REST API)."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT, dpo_args, of_kind, run_inprocess, sft_spec, train_args, write_spec

# The MLflow server lives in its own venv (scripts/setup.sh): the full `mlflow` package is a server,
# the runtime needs only the client (mlflow-skinny).
MLFLOW = os.environ.get("MAMBALIGN_MLFLOW_SERVER") or str(REPO_ROOT / ".venv-mlflow" / "bin" / "mlflow")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server: loopback, a free port, sqlite in a temp dir; yields its URI."""
    if not Path(MLFLOW).exists():
        pytest.fail(f"no MLflow server at {MLFLOW}: run scripts/setup.sh (or set MAMBALIGN_MLFLOW_SERVER)")
    root = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(root / "server.log", "w")
    proc = subprocess.Popen([MLFLOW, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                             "--default-artifact-root", str(root / "artifacts")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=root)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"MLflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)  # polling a server's start-up, not waiting for time to pass
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def rest(uri: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{uri}/api/2.0/mlflow/{path}", data=data,
                                 headers={"Content-Type": "application/json"}, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def dpo_spec(model_dir, demo_dir, out, **args) -> dict:
    return {"command": "dpo", "model": str(model_dir), "outputDir": str(out), "runId": "run-trackers",
            "train": {"trainFile": str(demo_dir / "dpo_train.jsonl"), "evalFile": str(demo_dir / "heldout_prefs.jsonl"),
                      "args": train_args("dpo", learningRate=0.02, maxSteps=4, perDeviceTrainBatchSize=8, seed=1,
                                         evalSteps=2, lora={"enabled": True, "r": 4, "alpha": 8}, **args),
                      "dpo": dpo_args(beta=0.5)}}


@pytest.fixture(scope="module")
def tracked_dpo(tmp_path_factory, model_dir, demo_dir, mlflow_server):
    """One DPO stage reporting to all three trackers (W&B offline: no API key, no network)."""
    out = tmp_path_factory.mktemp("tracked-dpo")
    spec = dpo_spec(model_dir, demo_dir, out, reportTo=["tensorboard", "wandb", "mlflow"],
                    mlflowTrackingUri=mlflow_server)
    env = {k: os.environ.pop(k) for k in ("WANDB_API_KEY", "WANDB_MODE", "MLFLOW_TRACKING_URI") if k in os.environ}
    try:
        code, events = run_inprocess(["dpo", "--spec", str(write_spec(out / "spec.json", spec))])
    finally:
        os.environ.update(env)
    assert code == 0, events
    return out, events


def step_values(events: list[dict]) -> dict[str, dict[int, float]]:
    """What the run events say, per metric name and step, in the trackers' names."""
    names = {"loss": "train/loss", "lr": "train/learning_rate", "gradNorm": "train/grad_norm",
             "tokensPerS": "train/tokens_per_s"}
    out: dict[str, dict[int, float]] = {}
    for p in of_kind(events, "progress"):
        for key, name in names.items():
            out.setdefault(name, {})[p["step"]] = p[key]
        for key, value in p["extra"].items():
            out.setdefault(key, {})[p["step"]] = value
    for m in of_kind(events, "metrics"):
        for key, value in m["values"].items():
            out.setdefault(key, {})[m["step"]] = value
    return out


EXPECTED = ("train/loss", "train/learning_rate", "train/grad_norm", "train/tokens_per_s", "rewards/chosen",
            "rewards/rejected", "rewards/margins", "rewards/accuracies", "eval/loss", "eval/rewards/margins")


def test_tensorboard_event_files_hold_every_step_of_loss_lr_grad_norm_rewards_and_eval(tracked_dpo):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, events = tracked_dpo
    files = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(files) == 1
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    want = step_values(events)
    assert set(EXPECTED) <= set(acc.Tags()["scalars"])
    for name in EXPECTED:
        got = {e.step: e.value for e in acc.Scalars(name)}
        assert got.keys() == want[name].keys(), name
        for step, value in want[name].items():
            assert got[step] == pytest.approx(value, rel=1e-6), (name, step)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in acc.Scalars("eval/loss")] == [2, 4]


def wandb_records(run_dir: Path) -> list[dict]:
    """The offline run's transaction log, read by wandb itself."""
    res = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_dir)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def test_wandb_offline_run_is_grouped_by_pipeline_run_with_the_stage_as_job_type_and_holds_the_metrics(tracked_dpo):
    out, events = tracked_dpo
    (run_dir,) = (out / "wandb").glob("offline-run-*")  # offline: no key, no network
    records = wandb_records(run_dir)
    (run,) = [r["run"] for r in records if r["type"] == "run"]
    assert run["run_group"] == "run-trackers" and run["job_type"] == "dpo" and run["run_id"] == "run-trackers-dpo"
    config = run["config"]["update"]
    assert config["learning_rate"] == 0.02 and config["dpo_beta"] == 0.5 and config["lora.r"] == 4
    history: dict[str, dict[int, float]] = {}
    for r in records:
        if r["type"] == "history":
            item = r["history"]["item"]
            for key, value in item.items():
                if not key.startswith("_"):
                    history.setdefault(key, {})[item["_step"]] = value
    want = step_values(events)
    for name in EXPECTED:
        assert history[name].keys() == want[name].keys(), name
        for step, value in want[name].items():
            assert history[name][step] == pytest.approx(value, rel=1e-6), (name, step)
    assert of_kind(events, "started")[0]["versions"]["wandb.run_id"] == "run-trackers-dpo"


def test_mlflow_run_has_the_resolved_recipe_as_params_and_every_step_metric(tracked_dpo, mlflow_server):
    out, events = tracked_dpo
    versions = of_kind(events, "started")[0]["versions"]
    run_id = versions["mlflow.run_id"]
    assert versions["mlflow.tracking_uri"] == mlflow_server
    run = rest(mlflow_server, f"runs/get?run_id={run_id}")["run"]
    assert run["info"]["status"] == "FINISHED"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mambalign.run_id"] == "run-trackers" and tags["mambalign.stage"] == "dpo"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["learning_rate"] == "0.02" and params["dpo_beta"] == "0.5" and params["lora.r"] == "4"
    assert params["max_steps"] == "4" and params["model"] == str(json.loads((out / "spec.json").read_text())["model"])
    want = step_values(events)
    for name in EXPECTED:
        history = rest(mlflow_server, f"metrics/get-history?run_id={run_id}&metric_key={name}")["metrics"]
        got = {m["step"]: m["value"] for m in history}
        assert got.keys() == want[name].keys(), name
        for step, value in want[name].items():
            assert got[step] == pytest.approx(value, rel=1e-6), (name, step)


def test_sft_reports_to_tensorboard_per_step(tmp_path, model_dir, demo_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = sft_spec(str(model_dir), demo_dir, tmp_path, maxSteps=3, reportTo=["tensorboard"])
    code, events = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "spec.json", spec))])
    assert code == 0, events
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    losses = {e.step: e.value for e in acc.Scalars("train/loss")}
    assert losses == pytest.approx({p["step"]: p["loss"] for p in of_kind(events, "progress")}, rel=1e-6)


def test_an_unknown_tracker_is_refused_naming_the_entry(tmp_path, model_dir, demo_dir):
    spec = sft_spec(str(model_dir), demo_dir, tmp_path, reportTo=["tensorboard", "comet_ml"])
    code, events = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "spec.json", spec))])
    assert code == 2
    (error,) = of_kind(events, "error")
    assert error["field"] == "train.args.reportTo[1]" and "comet_ml" in error["message"]
    assert "tensorboard, wandb, mlflow" in error["message"] and not of_kind(events, "started")


def test_a_tracker_package_not_installed_fails_the_stage_at_its_start_naming_report_to_and_the_package(
        tmp_path, model_dir, demo_dir, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    spec = sft_spec(str(model_dir), demo_dir, tmp_path, reportTo=["wandb"])
    code, events = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "spec.json", spec))])
    assert code == 2 and not of_kind(events, "started") and not of_kind(events, "progress")
    (error,) = of_kind(events, "error")
    assert error["field"] == "train.args.reportTo[0]"
    assert "report_to" in error["message"] and "wandb==" in error["message"]


def test_an_unreachable_mlflow_server_fails_before_training_and_may_be_retried(tmp_path, model_dir, demo_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    spec = sft_spec(str(model_dir), demo_dir, tmp_path, reportTo=["mlflow"], mlflowTrackingUri=f"http://127.0.0.1:{port}")
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        code, events = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "spec.json", spec))])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert code == 1 and not of_kind(events, "started")
    (error,) = of_kind(events, "error")
    assert error["retryable"] and error["field"] == "train.args.reportTo" and "mlflow" in error["message"]


def test_a_resumed_stage_continues_its_mlflow_run(tmp_path, model_dir, demo_dir, mlflow_server):
    """A preempted stage's next delivery resumes from a checkpoint: its metrics go on in the same MLflow run."""
    def spec(out):
        s = sft_spec(str(model_dir), demo_dir, out, maxSteps=4, saveSteps=2, reportTo=["mlflow"],
                     mlflowTrackingUri=mlflow_server)
        return {**s, "runId": "run-resumed"}
    code, first = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "a.json", spec(tmp_path / "a")))])
    assert code == 0, first
    checkpoint = tmp_path / "a" / "checkpoints" / "step-2"
    code, resumed = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "b.json", spec(tmp_path / "b"))),
                                   "--resume", str(checkpoint)])
    assert code == 0, resumed
    run_id = of_kind(first, "started")[0]["versions"]["mlflow.run_id"]
    assert of_kind(resumed, "started")[0]["versions"]["mlflow.run_id"] == run_id
    assert rest(mlflow_server, f"runs/get?run_id={run_id}")["run"]["info"]["status"] == "FINISHED"
    history = rest(mlflow_server, f"metrics/get-history?run_id={run_id}&metric_key=train/loss")["metrics"]
    assert sorted({m["step"] for m in history}) == [1, 2, 3, 4]
    resumed_losses = {p["step"]: p["loss"] for p in of_kind(resumed, "progress")}
    assert {3, 4} <= resumed_losses.keys()
    assert any(m["step"] == 4 and m["value"] == pytest.approx(resumed_losses[4]) for m in history)
