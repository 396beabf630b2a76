"""What SFT and DPO share: model setup, data order, optimiser, SIGTERM handling, checkpoints."""

from __future__ import annotations

import logging
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import peft
import torch
import transformers
from transformers import get_scheduler

from . import checkpoint
from .errors import EXIT_PREEMPTED, InvalidInput
from .events import EventWriter
from .modeling import (add_lora, install_kernels, load_adapter, load_model, lora_config, merge_adapter,
                       resolve_device, save_model)
from .spec import RuntimeSpec, to_json
from .train_args import TrainArgs, resolve_train_args

log = logging.getLogger("mambalign_runtime")


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
    seeded by (seed, epoch), so a resumed run sees exactly the rows it would have seen."""

    def __init__(self, n_rows: int, batch_size: int, accumulation: int, seed: int):
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.accumulation = accumulation
        self.seed = seed
        self.per_epoch = math.ceil(n_rows / batch_size)
        self._perms: dict[int, list[int]] = {}

    def _perm(self, epoch: int) -> list[int]:
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(self.seed + epoch)
            self._perms[epoch] = torch.randperm(self.n_rows, generator=gen).tolist()
        return self._perms[epoch]

    def step(self, step: int) -> list[list[int]]:
        """Row indices of each micro-batch of optimiser step `step` (0-based)."""
        out = []
        for k in range(self.accumulation):
            m = step * self.accumulation + k
            epoch, i = divmod(m, self.per_epoch)
            out.append(self._perm(epoch)[i * self.batch_size:(i + 1) * self.batch_size])
        return out


def versions(kernel_mode: str) -> dict[str, str]:
    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "kernels": kernel_mode}


@dataclass
class Session:
    """Everything a training loop needs, resumed or fresh."""

    spec: RuntimeSpec
    args: TrainArgs
    events: EventWriter
    device: torch.device
    kernel_mode: str
    model: Any
    tokenizer: Any
    resume_dir: str = ""
    start_step: int = 0
    trainer_state: dict[str, Any] = field(default_factory=dict)
    optimizer: Any = None
    scheduler: Any = None
    stop: StopFlag | None = None
    started_at: float = field(default_factory=time.time)

    @property
    def resolved_spec(self) -> dict[str, Any]:
        return {"spec": to_json(self.spec), "resolved": asdict(self.args)}

    def autocast(self):
        if self.args.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return torch.autocast(self.device.type, enabled=False)

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]


def open_session(spec: RuntimeSpec, events: EventWriter, resume: str) -> Session:
    """Load the model (fresh adapter, or the checkpoint's weights when resuming) and resolve the args."""
    stop = StopFlag()
    resume_dir = resume or spec.train.resume_from
    resume_field = "--resume" if resume else "train.resumeFrom"
    trainer_state = checkpoint.read_checkpoint(resume_dir, resume_field) if resume_dir else {}
    if not spec.output_dir:
        raise InvalidInput("outputDir: required", field="outputDir")
    device = resolve_device(spec.device)
    kernel_mode = install_kernels(spec.kernels)
    args = resolve_train_args(spec)
    quant = _quantization(args) if args.lora.load_in_4bit else None
    model_ref = spec.model
    if resume_dir and not args.lora.enabled:
        model_ref = str(Path(resume_dir) / "model")
    model, tokenizer = load_model(model_ref, device, args.dtype(), quant)
    args = resolve_train_args(spec, getattr(tokenizer, "model_max_length", None))
    if args.chat_template:
        tokenizer.chat_template = args.chat_template
    if spec.adapter and not (resume_dir and not args.lora.enabled):
        # Zephyr order: fold the previous stage's adapter in; it is this stage's base and reference.
        model = merge_adapter(load_adapter(model, spec.adapter, "adapter"))
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    torch.manual_seed(args.seed)
    if args.lora.enabled:
        if resume_dir:
            model = load_adapter(model, str(Path(resume_dir) / "adapter"), resume_field, trainable=True)
        else:
            config = lora_config(model, args.lora.r, args.lora.alpha, args.lora.dropout, args.lora.target_modules,
                                 args.lora.modules_to_save, "train.args.lora")
            model = add_lora(model, config, "train.args.lora")
    model.train()
    return Session(spec=spec, args=args, events=events, device=device, kernel_mode=kernel_mode, model=model,
                   tokenizer=tokenizer, resume_dir=resume_dir, start_step=int(trainer_state.get("step", 0)),
                   trainer_state=trainer_state, stop=stop)


def _quantization(args: TrainArgs):
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise InvalidInput("train.args.lora.loadIn4bit: needs bitsandbytes (pip install bitsandbytes) and a CUDA GPU",
                           field="train.args.lora.loadIn4bit") from err
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                              bnb_4bit_use_double_quant=True)


def build_optimizer(session: Session, total_steps: int) -> None:
    a = session.args
    session.optimizer = torch.optim.AdamW(session.trainable(), lr=a.learning_rate, betas=a.adam_betas,
                                          eps=a.adam_epsilon, weight_decay=a.weight_decay)
    session.scheduler = get_scheduler(a.lr_scheduler_type, session.optimizer,
                                      num_warmup_steps=math.ceil(a.warmup_ratio * total_steps),
                                      num_training_steps=total_steps)
    if session.resume_dir:
        session.optimizer.load_state_dict(checkpoint.load_tensors(session.resume_dir, "optimizer"))
        session.scheduler.load_state_dict(checkpoint.load_tensors(session.resume_dir, "scheduler"))
        checkpoint.restore_rng(checkpoint.load_tensors(session.resume_dir, "rng"))


def optimizer_step(session: Session) -> float:
    """Clip, step, schedule; returns the gradient norm before clipping."""
    grad_norm = torch.nn.utils.clip_grad_norm_(session.trainable(), session.args.max_grad_norm)
    session.optimizer.step()
    session.scheduler.step()
    session.optimizer.zero_grad(set_to_none=True)
    return float(grad_norm)


def save(session: Session, step: int, reason: str, total: int, extra_tensors: dict[str, Any] | None = None) -> Path:
    state = {"total_steps": total, "command": session.spec.command}
    directory = checkpoint.save_checkpoint(session.spec.output_dir, step, session.model, session.tokenizer,
                                           session.optimizer, session.scheduler, state, session.resolved_spec,
                                           extra_tensors)
    session.events.checkpoint_saved(step, str(directory), reason)
    return directory


class Meter:
    """Tokens/s and ETA over the steps of this process."""

    def __init__(self, start_step: int, total: int):
        self.t0 = time.time()
        self.start_step = start_step
        self.total = total
        self.tokens = 0

    def rates(self, step: int) -> tuple[float, float]:
        elapsed = max(time.time() - self.t0, 1e-9)
        done = max(step - self.start_step, 1)
        return self.tokens / elapsed, elapsed / done * (self.total - step)


def finish(session: Session, step: int, total: int, extra_tensors: dict[str, Any] | None = None) -> int:
    """After the loop: preempted -> sigterm checkpoint + exit 75; else final checkpoint and artifact."""
    wall = time.time() - session.started_at
    if session.stop and session.stop.requested and step < total:
        save(session, step, "sigterm", total, extra_tensors)
        session.events.finished("preempted", step, wall)
        return EXIT_PREEMPTED
    save(session, step, "final", total, extra_tensors)
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
    return 0
