"""What SFT and DPO share: model setup, precision, data order, optimiser, data parallelism,
SIGTERM handling, checkpoints.

Data parallelism (torchrun, one process per GPU): every rank holds the whole model (DDP), reads
its share of each optimiser step's rows, and the gradients are summed across ranks. A step is
the same `globalBatchSize` rows whatever the world size (accumulation adapts), each rank's loss
is normalised by the whole step's count (tokens or pairs) and scaled by the world size so that
DDP's gradient *average* becomes the sum a single process would have computed.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import peft
import torch
import transformers
from transformers import get_scheduler

from . import checkpoint, distributed, optim
from .kernels._launch import set_scan_recompute
from .distributed import World, env_world
from .errors import EXIT_PREEMPTED, InvalidInput
from .events import EventWriter
from .lora import WEIGHT_READ_MODULES
from .model_source import model_versions
from .modeling import (add_lora, install_kernels, load_adapter, load_model, lora_config, merge_adapter,
                       resolve_device, save_model)
from .precision import Precision, resolve_precision, store_frozen_matmul_weights
from .spec import RuntimeSpec, to_json
from .train_args import TrainArgs, validate_train_args
from .trackers import TrackerContext, TrackerSink, open_trackers

log = logging.getLogger("mambalign_runtime")

# What time-based checkpoints are measured with; tests replace it to pass time without sleeping.
clock = time.monotonic


class StopFlag:
    """Set by SIGTERM; the loop finishes its step, checkpoints and exits 75."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        log.info("SIGTERM: finishing the current step, then checkpointing")
        self.requested = True


class BatchSchedule:
    """Deterministic data order: micro-batch m is a slice of epoch (m // per_epoch)'s permutation,
    seeded by (seed, epoch), so a resumed run sees exactly the rows it would have seen.

    Optimiser step s consumes micro-batches [s·A·W, (s+1)·A·W) (A = accumulation, W = world
    size); rank r takes A consecutive ones. The rows of a step are thus the same for every W
    with the same global batch, and a run can resume on another number of GPUs."""

    def __init__(self, n_rows: int, batch_size: int, accumulation: int, seed: int, world: World | None = None):
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.accumulation = accumulation
        self.seed = seed
        self.world = world or World()
        self.per_epoch = math.ceil(n_rows / batch_size)
        self._perms: dict[int, list[int]] = {}

    def _perm(self, epoch: int) -> list[int]:
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(self.seed + epoch)
            self._perms[epoch] = torch.randperm(self.n_rows, generator=gen).tolist()
            self._perms.pop(epoch - 2, None)  # keep memory flat over long runs
        return self._perms[epoch]

    def _micro(self, m: int) -> list[int]:
        epoch, i = divmod(m, self.per_epoch)
        return self._perm(epoch)[i * self.batch_size:(i + 1) * self.batch_size]

    def step(self, step: int) -> list[list[int]]:
        """Row indices of this rank's micro-batches of optimiser step `step` (0-based)."""
        first = (step * self.world.size + self.world.rank) * self.accumulation
        return [self._micro(first + k) for k in range(self.accumulation)]

    def step_all(self, step: int) -> list[list[int]]:
        """Row indices of every rank's micro-batches of step `step` (for the step's normaliser)."""
        per_step = self.accumulation * self.world.size
        return [self._micro(step * per_step + k) for k in range(per_step)]


def versions(kernel_mode: str) -> dict[str, str]:
    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "kernels": kernel_mode, "cpu_threads": str(torch.get_num_threads())}


@dataclass
class Session:
    """Everything a training loop needs, resumed or fresh."""

    spec: RuntimeSpec
    args: TrainArgs
    events: EventWriter
    device: torch.device
    kernel_mode: str
    model: Any  # the model itself (PeftModel or plain): saving, evaluation, reference passes
    tokenizer: Any
    world: World = field(default_factory=World)
    precision: Precision = field(default_factory=lambda: Precision(None))
    model_versions: dict[str, str] = field(default_factory=dict)
    ddp: Any = None  # DistributedDataParallel around `model` when the world is larger than one
    scaler: Any = None  # float16 only
    resume_dir: str = ""
    start_step: int = 0
    trainer_state: dict[str, Any] = field(default_factory=dict)
    optimizer: Any = None
    scheduler: Any = None
    stop: StopFlag | None = None
    started_at: float = field(default_factory=time.time)
    # When the last checkpoint was saved (or training began), on `clock`.
    last_save_at: float = field(default_factory=lambda: clock())

    @property
    def resolved_spec(self) -> dict[str, Any]:
        return {"spec": to_json(self.spec), "resolved": asdict(self.args)}

    @property
    def train_model(self):
        """What the training forward calls: the DDP wrapper (gradient sync) or the model."""
        return self.ddp if self.ddp is not None else self.model

    def autocast(self):
        return self.precision.autocast(self.device)

    @contextmanager
    def micro_batch(self, index: int, count: int) -> Iterator[None]:
        """Around one micro-batch's forward and backward: gradients are synchronised across ranks
        on the last micro-batch of the step only."""
        with self.ddp.no_sync() if self.ddp is not None and index < count - 1 else nullcontext():
            yield

    def backward(self, loss: torch.Tensor) -> None:
        # × world size: DDP averages gradients over ranks; the loss is already a share of the step's sum.
        scaled = loss * self.world.size
        (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def all_versions(self) -> dict[str, str]:
        # The trackers' run ids ride along: the trainer tags the MLflow run with the registered version.
        trackers = self.events.trackers.ids() if self.events.trackers is not None else {}
        return {**versions(self.kernel_mode), **self.model_versions, "precision": self.precision.name,
                "world_size": str(self.world.size), **trackers}


def _train_device(requested: str, world: World) -> torch.device:
    device = resolve_device(requested)
    if device.type == "cuda" and world.distributed:
        # One GPU per process: torchrun's LOCAL_RANK picks it.
        device = torch.device("cuda", world.local_rank)
    elif device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def open_session(spec: RuntimeSpec, events: EventWriter, resume: str) -> Session:
    """Load the model (fresh adapter, or the checkpoint's weights when resuming) and resolve the args."""
    stop = StopFlag()
    world = env_world()
    resume_dir = resume or spec.train.resume_from
    resume_field = "--resume" if resume else "train.resumeFrom"
    trainer_state = checkpoint.read_checkpoint(resume_dir, resume_field) if resume_dir else {}
    if not spec.output_dir:
        raise InvalidInput("outputDir: required", field="outputDir")
    device = _train_device(spec.device, world)
    args = validate_train_args(spec, world_size=world.size)
    if world.is_main and args.report_to:
        events.trackers = TrackerSink(open_trackers(args.report_to, tracker_context(spec, args, bool(resume_dir))))
    precision = resolve_precision(args.torch_dtype, args.bf16, device)
    quant = _quantization(device) if args.lora.load_in_4bit else None
    distributed.init(world, device)
    kernel_mode = install_kernels(spec.kernels)
    model_ref = spec.model
    if resume_dir and not args.lora.enabled:
        model_ref = str(Path(resume_dir) / "model")
    # fp32 master weights: what trains is float32 whatever the checkpoint's dtype; autocast does the rest.
    model, tokenizer = load_model(model_ref, device, torch.float32, quant, tokenizer_dir=spec.tokenizer)
    identity = distributed.broadcast_object(model_versions(spec.model, model, spec.adapter) if world.is_main else None)
    if args.chat_template:
        tokenizer.chat_template = args.chat_template
    if spec.adapter and not (resume_dir and not args.lora.enabled):
        # Zephyr order: fold the previous stage's adapter in; it is this stage's base and reference.
        model = merge_adapter(load_adapter(model, spec.adapter, "adapter"))
    if quant is not None:
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=args.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
    elif args.gradient_checkpointing:
        # Non-reentrant checkpointing recomputes each Mamba block in the backward pass; it works with
        # frozen inputs (LoRA), DDP, and replays the RNG so LoRA dropout masks match.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if not os.environ.get("MAMBALIGN_SCAN_RECOMPUTE"):
        # The scan's chunk checkpoints are b*L*D*N/4 fp32 per layer: without gradient checkpointing
        # the backward recomputes them (no layer keeps any); with it, the layer's forward is rerun
        # right before its backward anyway, so keeping them saves a third scan pass.
        set_scan_recompute(not args.gradient_checkpointing)
    torch.manual_seed(args.seed)
    if args.lora.enabled:
        if resume_dir:
            model = load_adapter(model, str(Path(resume_dir) / "adapter"), resume_field, trainable=True)
        else:
            config = lora_config(model, args.lora.r, args.lora.alpha, args.lora.dropout, args.lora.target_modules,
                                 args.lora.modules_to_save, "train.args.lora")
            model = add_lora(model, config, "train.args.lora")
    if not any(p.requires_grad for p in model.parameters()):
        raise InvalidInput("train.args.lora: nothing to train", field="train.args.lora")
    store_frozen_matmul_weights(model, precision.compute, WEIGHT_READ_MODULES)
    if world.rank:
        # Different dropout masks per rank (rank 0 keeps the single-process stream).
        torch.manual_seed(args.seed + world.rank)
    model.train()
    ddp = None
    if world.distributed:
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
    scaler = torch.amp.GradScaler(device.type) if precision.needs_scaler else None
    return Session(spec=spec, args=args, events=events, device=device, kernel_mode=kernel_mode, model=model,
                   tokenizer=tokenizer, world=world, precision=precision, model_versions=identity, ddp=ddp,
                   scaler=scaler, resume_dir=resume_dir, start_step=int(trainer_state.get("step", 0)),
                   trainer_state=trainer_state, stop=stop)


def tracker_context(spec: RuntimeSpec, args: TrainArgs, resumed: bool) -> TrackerContext:
    """Trackers record the resolved stage recipe (defaults filled by the recipe, accumulation derived
    here) as their parameters, flattened: "learning_rate", "lora.r", ..."""
    params = {"model": spec.model, "adapter": spec.adapter, "run_id": spec.run_id,
              **_flatten({k: v for k, v in asdict(args).items() if k not in ("extra", "report_to")})}
    return TrackerContext(run_id=spec.run_id, stage=spec.command, output_dir=Path(spec.output_dir), params=params,
                          mlflow_tracking_uri=args.mlflow_tracking_uri, resumed=resumed)


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def _quantization(device: torch.device):
    field_name = "train.args.lora.loadIn4bit"
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise InvalidInput(f"{field_name}: 4-bit base weights need the bitsandbytes package, which is not installed "
                           f"({optim.BNB_INSTALL}); or turn loadIn4bit off", field=field_name) from err
    if device.type != "cuda":
        raise InvalidInput(f"{field_name}: 4-bit base weights need a CUDA GPU (device is {device.type})",
                           field=field_name)
    from transformers import BitsAndBytesConfig

    # dt_proj's weight is read directly by transformers' mixer and the tied head shares the
    # embeddings: both stay unquantised (they are < 1% of the weights).
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                              bnb_4bit_use_double_quant=True, llm_int8_skip_modules=["dt_proj", "lm_head"])


def build_optimizer(session: Session, total_steps: int) -> None:
    a = session.args
    session.optimizer = optim.build(a.optim, session.trainable(), session.device, a.learning_rate, a.adam_betas,
                                    a.adam_epsilon, a.weight_decay)
    session.scheduler = get_scheduler(a.lr_scheduler_type, session.optimizer,
                                      num_warmup_steps=math.ceil(a.warmup_ratio * total_steps),
                                      num_training_steps=total_steps)
    if session.resume_dir:
        directory = session.resume_dir
        session.optimizer.load_state_dict(checkpoint.load_tensors(directory, "optimizer"))
        session.scheduler.load_state_dict(checkpoint.load_tensors(directory, "scheduler"))
        checkpoint.restore_rng(checkpoint.load_tensors(directory, "rng"), session.world.rank, session.world.size)
        if session.scaler is not None and (Path(directory) / "scaler.pt").is_file():
            session.scaler.load_state_dict(checkpoint.load_tensors(directory, "scaler"))


def optimizer_step(session: Session) -> float:
    """Clip, step, schedule; returns the gradient norm before clipping."""
    if session.scaler is not None:
        session.scaler.unscale_(session.optimizer)
    # maxGradNorm 0 = no clipping (the recipe's meaning); the norm is still measured for progress events.
    limit = session.args.max_grad_norm if session.args.max_grad_norm > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(session.trainable(), limit)
    if session.scaler is not None:
        session.scaler.step(session.optimizer)
        session.scaler.update()
    else:
        session.optimizer.step()
    session.scheduler.step()
    session.optimizer.zero_grad(set_to_none=True)
    return float(grad_norm)


@dataclass
class StepEnd:
    loss: float  # the step's loss over all ranks
    stop: bool  # some rank got SIGTERM
    save_due: bool  # saveEveryMinutes passed since the last checkpoint (rank 0's clock)


def end_of_step(session: Session, loss_share: float) -> StepEnd:
    """One collective per step, so every rank stops, and checkpoints, at the same step and sees the same loss."""
    a = session.args
    due = session.world.is_main and a.save_every_s > 0 and clock() - session.last_save_at >= a.save_every_s
    loss, stop, save_due = distributed.all_sum(
        [loss_share, 1.0 if session.stop.requested else 0.0, 1.0 if due else 0.0], session.device)
    return StepEnd(loss, stop > 0, save_due > 0)


def save_if_due(session: Session, step: int, total: int, end: StepEnd, extra_tensors: dict[str, Any] | None = None) -> None:
    """A checkpoint every saveSteps, and also after saveEveryMinutes of wall time, so a stage shorter
    than saveSteps still leaves one to resume from. Not at the last step or when stopping: those save anyway."""
    if step >= total or end.stop:
        return
    if step % session.args.save_steps == 0:
        save(session, step, "interval", total, extra_tensors)
    elif end.save_due:
        save(session, step, "time", total, extra_tensors)


def save(session: Session, step: int, reason: str, total: int, extra_tensors: dict[str, Any] | None = None) -> Path:
    """A checkpoint (a collective: every rank's RNG streams go in; rank 0 writes)."""
    state = {"total_steps": total, "command": session.spec.command, "world_size": session.world.size,
             "global_batch_size": session.args.global_batch_size}
    rngs = distributed.gather_objects(checkpoint.rng_state())
    rng = {**rngs[0], "ranks": rngs} if session.world.distributed else rngs[0]
    extra = dict(extra_tensors or {})
    if session.scaler is not None:
        extra["scaler"] = session.scaler.state_dict()
    directory = Path(session.spec.output_dir) / "checkpoints" / f"step-{step}"
    if session.world.is_main:
        directory = checkpoint.save_checkpoint(session.spec.output_dir, step, session.model, session.tokenizer,
                                               session.optimizer, session.scheduler, state, session.resolved_spec,
                                               extra, rng)
        session.events.checkpoint_saved(step, str(directory), reason)
    distributed.barrier()
    session.last_save_at = clock()
    return directory


def finish(session: Session, step: int, total: int, extra_tensors: dict[str, Any] | None = None,
           stopped: bool = False) -> int:
    """After the loop: preempted -> sigterm checkpoint + exit 75; else final checkpoint and artifact."""
    wall = time.time() - session.started_at
    if stopped and step < total:
        save(session, step, "sigterm", total, extra_tensors)
        session.events.finished("preempted", step, wall)
        return EXIT_PREEMPTED
    save(session, step, "final", total, extra_tensors)
    if session.world.is_main:
        out = Path(session.spec.output_dir)
        if hasattr(session.model, "peft_config"):
            target, kind = out / "adapter", "adapter"
            session.model.save_pretrained(target, safe_serialization=True)
            session.tokenizer.save_pretrained(target)
        else:
            target, kind = out / "model", "model"
            save_model(session.model, session.tokenizer, target)
        session.events.artifact(kind, str(target))
        session.events.finished("completed", step, time.time() - session.started_at)
    distributed.barrier()
    return 0
