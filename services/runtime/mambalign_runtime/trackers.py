"""Experiment trackers (the recipe's `report_to`): TensorBoard, Weights & Biases, MLflow.

They are fed from the same place as the run events (events.EventWriter forwards each progress and
metrics event to them), as HF Trainer's report_to callbacks are fed from its logging, so a tracker
shows exactly what `mambalign logs` shows. Only rank 0 writes events, so only rank 0 opens trackers.

Where each one writes (the trainer uploads the local directories with the run's checkpoints):
  - tensorboard: event files in <outputDir>/tensorboard/ (`tensorboard --logdir`);
  - wandb: <outputDir>/wandb/, a run per stage of a pipeline run (group = run id, job type = stage);
    offline (files only, `wandb sync` later) unless WANDB_API_KEY is set, or as WANDB_MODE says;
  - mlflow: the server at trainingArgs.mlflowTrackingUri or MLFLOW_TRACKING_URI; params = the resolved
    stage recipe, metrics per step; its run id is reported in the `started` event's versions
    ("mlflow.run_id") so that the trainer can tag the run with the registry version it registers.

stdout belongs to the run events: whatever a tracker prints (MLflow prints "View run ... at: URL" when a
run ends) is sent to stderr instead.

A package that is missing fails the stage at its start (check_report_to), never mid-training.
A tracker that fails mid-run (a server gone) is logged once and dropped: training and the run's
own events, which are the record, go on.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import InvalidInput, RuntimeFailure

log = logging.getLogger("mambalign_runtime")

FIELD = "train.args.reportTo"

# Tracker name -> (module imported, pip package with the pin in requirements.txt).
PACKAGES: dict[str, tuple[str, str]] = {
    "tensorboard": ("torch.utils.tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow-skinny"),
}
TRACKERS = tuple(PACKAGES)

# Names of the progress event's fields as tracker metrics (TRL's names, STYLE.md "<group>/<quantity>").
PROGRESS_METRICS = {"loss": "train/loss", "lr": "train/learning_rate", "gradNorm": "train/grad_norm",
                     "tokensPerS": "train/tokens_per_s", "mfu": "train/mfu", "gpuMemGib": "train/gpu_mem_gib"}


def check_report_to(names: list[str]) -> list[str]:
    """The trackers asked for, each known and importable; raises InvalidInput naming the entry at fault."""
    out: list[str] = []
    for i, name in enumerate(names):
        where = f"{FIELD}[{i}]"
        if name not in PACKAGES:
            raise InvalidInput(f"{where}: unknown tracker {name!r} (valid: {', '.join(TRACKERS)})", field=where)
        module, package = PACKAGES[name]
        if not _importable(module):
            pin = _pin(package)
            raise InvalidInput(f"{where}: report_to {name!r} needs the Python package {package}, which is not "
                               f"installed; `pip install {pin}` (services/runtime/requirements.txt) or remove "
                               f"{name!r} from report_to", field=where)
        if name not in out:
            out.append(name)
    return out


def _importable(module: str) -> bool:
    try:
        if module == "torch.utils.tensorboard":
            # torch ships the writer; it needs the tensorboard package, whose absence only shows on import.
            return importlib.util.find_spec("tensorboard") is not None
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _pin(package: str) -> str:
    req = Path(__file__).resolve().parents[1] / "requirements.txt"
    try:
        for line in req.read_text().splitlines():
            if line.startswith(f"{package}=="):
                return line.strip()
    except OSError:
        pass
    return package


@dataclass
class TrackerContext:
    """What a tracker run is named and grouped by, and what it records as its parameters."""

    run_id: str  # the pipeline run (W&B group, MLflow tag); "" for a runtime run by hand
    stage: str  # "sft" | "dpo" (W&B job type)
    output_dir: Path
    params: dict[str, Any]  # the resolved stage recipe, flattened ("args.learning_rate": 2e-5, ...)
    project: str = "mambalign"  # W&B project / MLflow experiment
    mlflow_tracking_uri: str = ""
    resumed: bool = False

    @property
    def run_name(self) -> str:
        return f"{self.run_id}-{self.stage}" if self.run_id else self.stage


class Tracker(Protocol):
    name: str

    def log(self, step: int, values: dict[str, float]) -> None: ...

    def close(self, status: str) -> None: ...

    def ids(self) -> dict[str, str]: ...


class TensorBoardTracker:
    name = "tensorboard"

    def __init__(self, ctx: TrackerContext):
        from torch.utils.tensorboard import SummaryWriter

        self.logdir = ctx.output_dir / "tensorboard"
        # flush_secs: the trainer uploads the directory with each checkpoint; events reach the file by then.
        self._writer = SummaryWriter(log_dir=str(self.logdir), flush_secs=10)
        self._writer.add_text("recipe", "\n".join(f"    {k}: {v}" for k, v in sorted(ctx.params.items())), 0)

    def log(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self._writer.add_scalar(key, value, step)

    def close(self, status: str) -> None:
        self._writer.flush()
        self._writer.close()

    def ids(self) -> dict[str, str]:
        return {}


def wandb_mode(env: dict[str, str] | os._Environ = os.environ) -> str:
    """WANDB_MODE when set; else online with an API key (from the chart's Secret), offline without one."""
    return env.get("WANDB_MODE") or ("online" if env.get("WANDB_API_KEY") else "offline")


class WandbTracker:
    name = "wandb"

    def __init__(self, ctx: TrackerContext):
        import wandb

        self._wandb = wandb
        directory = ctx.output_dir  # wandb writes <dir>/wandb/<run>/
        directory.mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or ctx.project, dir=str(directory),
            group=ctx.run_id or None, job_type=ctx.stage, name=ctx.run_name,
            # A stable id: a stage resumed after preemption continues its run.
            id=_wandb_id(ctx.run_name), resume="allow", config=ctx.params, mode=wandb_mode(),
            settings=wandb.Settings(console="off", x_disable_stats=True, silent=True))

    def log(self, step: int, values: dict[str, float]) -> None:
        self._run.log(values, step=step)

    def close(self, status: str) -> None:
        self._run.finish(exit_code=0 if status in ("completed", "preempted") else 1)

    def ids(self) -> dict[str, str]:
        return {"wandb.run_id": self._run.id}


def _wandb_id(name: str) -> str:
    # W&B run ids: letters, digits, '-', '_' (no '.', which run ids may hold).
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:128]


class MlflowTracker:
    name = "mlflow"

    def __init__(self, ctx: TrackerContext):
        from mlflow.entities import Param, RunTag
        from mlflow.tracking import MlflowClient

        uri = ctx.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if not uri:
            raise InvalidInput(f"{FIELD}: report_to 'mlflow' needs a tracking server: set the recipe's "
                               "mlflow_tracking_uri or MLFLOW_TRACKING_URI", field=FIELD)
        self.uri = uri
        self._client = MlflowClient(tracking_uri=uri)
        experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or ctx.project
        found = self._client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self._client.create_experiment(experiment)
        tags = {"mambalign.run_id": ctx.run_id, "mambalign.stage": ctx.stage}
        self.run_id = self._existing_run(experiment_id, tags) if ctx.resumed else ""
        if self.run_id:
            self._client.update_run(self.run_id, status="RUNNING")  # it was KILLED when the stage was preempted
        else:
            run = self._client.create_run(experiment_id, run_name=ctx.run_name, tags=tags)
            self.run_id = run.info.run_id
            params = [Param(k, _param_value(v)) for k, v in sorted(ctx.params.items())]
            for i in range(0, len(params), 100):  # MLflow's batch limit is 100 params
                self._client.log_batch(self.run_id, params=params[i:i + 100])
            self._client.log_batch(self.run_id, tags=[RunTag("mlflow.runName", ctx.run_name)])

    def _existing_run(self, experiment_id: str, tags: dict[str, str]) -> str:
        query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        runs = self._client.search_runs([experiment_id], filter_string=query, max_results=1)
        return runs[0].info.run_id if runs else ""

    def log(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def close(self, status: str) -> None:
        state = {"completed": "FINISHED", "preempted": "KILLED"}.get(status, "FAILED")
        self._client.set_terminated(self.run_id, state)

    def ids(self) -> dict[str, str]:
        return {"mlflow.run_id": self.run_id, "mlflow.tracking_uri": _without_userinfo(self.uri)}


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."  # MLflow's limit on a param value


def _without_userinfo(uri: str) -> str:
    """A URI fit for events: credentials in it (https://user:token@host) are dropped."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"


_CLASSES = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker, "mlflow": MlflowTracker}


def open_trackers(names: list[str], ctx: TrackerContext) -> list[Tracker]:
    """Opens every tracker asked for, before training starts; one that cannot start fails the stage."""
    opened: list[Tracker] = []
    for name in check_report_to(names):
        try:
            with redirect_stdout(sys.stderr):
                opened.append(_CLASSES[name](ctx))
        except RuntimeFailure:
            close_all(opened, "failed")
            raise
        except Exception as err:  # a server unreachable, a bad URI: retrying later may help
            close_all(opened, "failed")
            raise RuntimeFailure(f"{FIELD}: cannot start the {name} tracker: {type(err).__name__}: {err}",
                                 field=FIELD, retryable=True) from err
    return opened


def close_all(trackers: list[Tracker], status: str) -> None:
    for t in trackers:
        try:
            with redirect_stdout(sys.stderr):
                t.close(status)
        except Exception as err:  # closing is best effort: the run's outcome is already decided
            log.warning("closing the %s tracker failed: %s: %s", t.name, type(err).__name__, err)


def progress_values(payload: dict[str, Any]) -> dict[str, float]:
    """A progress event's payload as tracker metrics: train/loss, train/learning_rate, ... and the
    extras as named (DPO: rewards/chosen, rewards/margins, ...)."""
    values = {name: float(payload[key]) for key, name in PROGRESS_METRICS.items() if payload.get(key) is not None}
    values.update({k: float(v) for k, v in (payload.get("extra") or {}).items()})
    return values


@dataclass
class TrackerSink:
    """What EventWriter forwards to: every tracker, each dropped (with one warning) after its first failure."""

    trackers: list[Tracker] = field(default_factory=list)

    def log(self, step: int, values: dict[str, float]) -> None:
        for t in list(self.trackers):
            try:
                with redirect_stdout(sys.stderr):
                    t.log(step, values)
            except Exception as err:
                log.warning("the %s tracker failed at step %d and is dropped for this stage: %s: %s",
                            t.name, step, type(err).__name__, err)
                self.trackers.remove(t)

    def close(self, status: str) -> None:
        close_all(self.trackers, status)
        self.trackers = []

    def ids(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for t in self.trackers:
            out.update(t.ids())
        return out
