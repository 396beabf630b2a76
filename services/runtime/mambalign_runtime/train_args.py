"""Training arguments as the spec carries them, validated. Defaults are resolved once, in the recipe
(core/src/recipe/stage-keys.ts); the runtime fills no gap: a required value missing is an error
naming the field (proto3 JSON omits zeros, so 0 / "" is "missing" where 0 is not a valid value)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from .errors import InvalidInput
from .optim import check_optim_name
from .precision import TORCH_DTYPES
from .spec import RuntimeSpec
from .trackers import check_report_to

log = logging.getLogger("mambalign_runtime")

# transformers' schedulers that need no extra arguments; the recipe offers the same list (LR_SCHEDULERS).
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt")
DPO_LOSS_TYPES = ("sigmoid", "ipo", "hinge")

A = "train.args"


@dataclass
class LoraResolved:
    enabled: bool
    r: int
    alpha: float
    dropout: float
    target_modules: list[str]
    modules_to_save: list[str]
    load_in_4bit: bool


@dataclass
class TrainArgs:
    learning_rate: float
    lr_scheduler_type: str
    warmup_ratio: float
    num_train_epochs: float
    max_steps: int
    batch_size: int
    eval_batch_size: int
    gradient_accumulation_steps: int
    world_size: int
    global_batch_size: int
    gradient_checkpointing: bool
    max_seq_length: int
    torch_dtype: str
    bf16: bool
    optim: str
    weight_decay: float
    adam_betas: tuple[float, float]
    adam_epsilon: float
    max_grad_norm: float
    save_steps: int
    # Also checkpoint when this many seconds passed since the last one (0 = by save_steps only).
    save_every_s: float
    eval_steps: int
    logging_steps: int
    seed: int
    assistant_only_loss: bool
    packing: bool  # SFT: conversations packed into max_seq_length rows with document boundaries
    chat_template: str
    lora: LoraResolved
    dpo_beta: float = 0.0
    dpo_loss_type: str = ""
    # NLL on chosen completions added to the DPO loss (TRL's rpo_alpha); 0 = plain DPO.
    dpo_rpo_alpha: float = 0.0
    dpo_max_length: int = 0
    dpo_max_prompt_length: int = 0
    # Experiment trackers (trackers.py), each known and installed.
    report_to: list[str] = field(default_factory=list)
    mlflow_tracking_uri: str = ""
    extra: dict = field(default_factory=dict)


def _not_negative(value: float, where: str) -> None:
    if value < 0:
        raise InvalidInput(f"{where}: must not be negative, got {value}", field=where)


def _required(value: float | int | str, where: str, what: str) -> None:
    """A value the recipe resolves (core/src/recipe/stage-keys.ts); 0 / "" here means the spec lacks it."""
    if not isinstance(value, str) and value < 0:
        raise InvalidInput(f"{where}: must be {what}, got {value}", field=where)
    if not value:
        raise InvalidInput(f"{where}: required ({what}) but missing from the spec; training defaults are resolved "
                           "by the recipe (`mambalign recipe check` shows them), not by the runtime", field=where)


def validate_train_args(spec: RuntimeSpec, world_size: int = 1) -> TrainArgs:
    """The spec's training arguments, checked. Every default is resolved once, in the recipe
    (TypeScript); a spec missing a required value is an error naming the field. `world_size` =
    data-parallel processes: the global batch stays as the spec says and the gradient
    accumulation adapts to it."""
    a = spec.train.args
    lora = a.lora
    _required(a.learning_rate, f"{A}.learningRate", "a number > 0")
    _required(a.num_train_epochs, f"{A}.numTrainEpochs", "a number > 0")
    _required(a.adam_epsilon, f"{A}.adamEpsilon", "a number > 0")
    for name in ("warmup_ratio", "weight_decay", "max_grad_norm", "adam_beta1", "adam_beta2", "save_every_minutes"):
        _not_negative(getattr(a, name), f"{A}.{_camel(name)}")
    if a.warmup_ratio > 1:
        raise InvalidInput(f"{A}.warmupRatio: must be within [0, 1], got {a.warmup_ratio}", field=f"{A}.warmupRatio")
    for name in ("adam_beta1", "adam_beta2"):
        if getattr(a, name) >= 1:
            where = f"{A}.{_camel(name)}"
            raise InvalidInput(f"{where}: must be within [0, 1), got {getattr(a, name)}", field=where)
    _required(a.lr_scheduler_type, f"{A}.lrSchedulerType", ", ".join(SCHEDULERS))
    if a.lr_scheduler_type not in SCHEDULERS:
        raise InvalidInput(f"{A}.lrSchedulerType: unknown {a.lr_scheduler_type!r} (valid: {', '.join(SCHEDULERS)})",
                           field=f"{A}.lrSchedulerType")
    _required(a.optim, f"{A}.optim", "an optimiser name")
    optim = check_optim_name(a.optim)
    _required(a.torch_dtype, f"{A}.torchDtype", ", ".join(TORCH_DTYPES))
    if a.torch_dtype not in TORCH_DTYPES:
        raise InvalidInput(f"{A}.torchDtype: unknown dtype {a.torch_dtype!r} (valid: {', '.join(TORCH_DTYPES)})",
                           field=f"{A}.torchDtype")
    if a.max_steps == 0 or a.max_steps < -1:
        raise InvalidInput(f"{A}.maxSteps: required: -1 (train for numTrainEpochs) or a positive step count, "
                           f"got {a.max_steps}", field=f"{A}.maxSteps")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "max_seq_length", "save_steps",
                 "logging_steps"):
        _required(getattr(a, name), f"{A}.{_camel(name)}", "an integer >= 1")
    batch = a.per_device_train_batch_size
    accum = _accumulation(a.global_batch_size, batch, a.gradient_accumulation_steps, world_size)
    if lora.load_in_4bit and not lora.enabled:
        raise InvalidInput(f"{A}.lora.loadIn4bit: 4-bit base weights need lora.enabled",
                           field=f"{A}.lora.loadIn4bit")
    if lora.enabled:
        _required(lora.r, f"{A}.lora.r", "an integer >= 1")
        _required(lora.alpha, f"{A}.lora.alpha", "a number > 0")
    _not_negative(lora.dropout, f"{A}.lora.dropout")
    if lora.dropout >= 1:
        raise InvalidInput(f"{A}.lora.dropout: must be below 1", field=f"{A}.lora.dropout")
    dpo = spec.train.dpo
    if spec.command == "dpo":
        _required(dpo.beta, "train.dpo.beta", "a number > 0")
        _required(dpo.loss_type, "train.dpo.lossType", ", ".join(DPO_LOSS_TYPES))
        _required(dpo.max_length, "train.dpo.maxLength", "an integer >= 1")
        _required(dpo.max_prompt_length, "train.dpo.maxPromptLength", "an integer >= 1")
    if dpo.loss_type and dpo.loss_type not in DPO_LOSS_TYPES:
        raise InvalidInput(f"train.dpo.lossType: unknown {dpo.loss_type!r} (valid: {', '.join(DPO_LOSS_TYPES)})",
                           field="train.dpo.lossType")
    _not_negative(dpo.beta, "train.dpo.beta")
    _not_negative(dpo.rpo_alpha, "train.dpo.rpoAlpha")
    report_to = check_report_to(a.report_to)  # a tracker not installed fails here, before any training
    resolved = TrainArgs(
        learning_rate=a.learning_rate,
        lr_scheduler_type=a.lr_scheduler_type,
        warmup_ratio=a.warmup_ratio,
        num_train_epochs=a.num_train_epochs,
        max_steps=a.max_steps,
        batch_size=batch,
        eval_batch_size=a.per_device_eval_batch_size,
        gradient_accumulation_steps=accum,
        world_size=world_size,
        global_batch_size=batch * accum * world_size,
        gradient_checkpointing=a.gradient_checkpointing,
        max_seq_length=a.max_seq_length,
        torch_dtype=a.torch_dtype,
        bf16=a.bf16,
        optim=optim,
        weight_decay=a.weight_decay,
        adam_betas=(a.adam_beta1, a.adam_beta2),
        adam_epsilon=a.adam_epsilon,
        max_grad_norm=a.max_grad_norm,
        save_steps=a.save_steps,
        save_every_s=a.save_every_minutes * 60,
        eval_steps=a.eval_steps,
        logging_steps=a.logging_steps,
        seed=a.seed,
        assistant_only_loss=a.assistant_only_loss,
        packing=a.packing,
        chat_template=a.chat_template,
        lora=LoraResolved(
            enabled=lora.enabled, r=lora.r, alpha=lora.alpha, dropout=lora.dropout,
            target_modules=list(lora.target_modules), modules_to_save=list(lora.modules_to_save),
            load_in_4bit=lora.load_in_4bit,
        ),
        dpo_beta=dpo.beta,
        dpo_loss_type=dpo.loss_type,
        dpo_rpo_alpha=dpo.rpo_alpha,
        dpo_max_length=dpo.max_length,
        dpo_max_prompt_length=dpo.max_prompt_length,
        report_to=report_to,
        mlflow_tracking_uri=a.mlflow_tracking_uri,
    )
    if a.dataset_mixer or a.dataset_splits:
        log.info("datasetMixer/datasetSplits are resolved by the datasets service; the runtime reads train.trainFile")
    return resolved


def _accumulation(global_batch: int, batch: int, accum: int, world: int) -> int:
    """Gradient accumulation steps: `global / (per-device batch × world size)` when the global batch
    is set (0 accumulation = derive it), else the spec's."""
    if not global_batch:
        _required(accum, f"{A}.gradientAccumulationSteps", "an integer >= 1, or 0 with globalBatchSize set")
        return accum
    per_step = batch * world
    if global_batch % per_step:
        raise InvalidInput(
            f"{A}.globalBatchSize: {global_batch} is not a multiple of {A}.perDeviceTrainBatchSize × world size "
            f"({batch} × {world} = {per_step}); change globalBatchSize or perDeviceTrainBatchSize",
            field=f"{A}.globalBatchSize")
    derived = global_batch // per_step
    if accum and accum != derived:
        raise InvalidInput(
            f"{A}.globalBatchSize: {global_batch} != {A}.perDeviceTrainBatchSize × "
            f"{A}.gradientAccumulationSteps × world size ({batch} × {accum} × {world}); send "
            f"gradientAccumulationSteps 0 to derive it from the global batch", field=f"{A}.globalBatchSize")
    return derived


def total_steps(args: TrainArgs, micro_batches_per_epoch: int) -> int:
    """Optimiser steps: maxSteps, or the epochs over micro-batches of the per-device batch (each
    step consumes accumulation × world size of them)."""
    if args.max_steps > 0:
        return args.max_steps
    per_step = args.gradient_accumulation_steps * args.world_size
    return max(1, math.ceil(args.num_train_epochs * micro_batches_per_epoch / per_step))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)
