"""Training arguments with every default resolved once (0 / "" / false in the spec = default)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from .errors import InvalidInput
from .optim import check_optim_name
from .precision import TORCH_DTYPES
from .spec import RuntimeSpec

log = logging.getLogger("mambalign_runtime")

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
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
    eval_steps: int
    logging_steps: int
    seed: int
    assistant_only_loss: bool
    packing: bool  # SFT: conversations packed into max_seq_length rows with document boundaries
    chat_template: str
    lora: LoraResolved
    dpo_beta: float = 0.1
    dpo_loss_type: str = "sigmoid"
    # NLL on chosen completions added to the DPO loss (TRL's rpo_alpha); 0 = plain DPO.
    dpo_rpo_alpha: float = 0.0
    dpo_max_length: int = 0
    dpo_max_prompt_length: int = 0
    extra: dict = field(default_factory=dict)


def _positive(value: float, where: str) -> None:
    if value < 0:
        raise InvalidInput(f"{where}: must not be negative, got {value}", field=where)


def resolve_train_args(spec: RuntimeSpec, model_max_length: int | None = None, world_size: int = 1) -> TrainArgs:
    """`world_size` = data-parallel processes: the global batch stays as the spec says and the
    gradient accumulation adapts to it."""
    a = spec.train.args
    lora = a.lora
    for name in ("learning_rate", "warmup_ratio", "num_train_epochs", "weight_decay", "max_grad_norm", "adam_epsilon"):
        _positive(getattr(a, name), f"{A}.{_camel(name)}")
    if a.warmup_ratio > 1:
        raise InvalidInput(f"{A}.warmupRatio: must be within [0, 1], got {a.warmup_ratio}", field=f"{A}.warmupRatio")
    scheduler = a.lr_scheduler_type or "linear"
    if scheduler not in SCHEDULERS:
        raise InvalidInput(f"{A}.lrSchedulerType: unknown {scheduler!r} (valid: {', '.join(SCHEDULERS)})",
                           field=f"{A}.lrSchedulerType")
    optim = check_optim_name(a.optim)
    if a.torch_dtype and a.torch_dtype not in TORCH_DTYPES:
        raise InvalidInput(f"{A}.torchDtype: unknown dtype {a.torch_dtype!r} (valid: {', '.join(TORCH_DTYPES)})",
                           field=f"{A}.torchDtype")
    if a.max_steps < -1:
        raise InvalidInput(f"{A}.maxSteps: must be -1, 0 or positive", field=f"{A}.maxSteps")
    batch = a.per_device_train_batch_size or 8
    accum = _accumulation(a.global_batch_size, batch, a.gradient_accumulation_steps, world_size)
    if lora.load_in_4bit and not lora.enabled:
        raise InvalidInput(f"{A}.lora.loadIn4bit: 4-bit base weights need lora.enabled",
                           field=f"{A}.lora.loadIn4bit")
    _positive(lora.dropout, f"{A}.lora.dropout")
    if lora.dropout >= 1:
        raise InvalidInput(f"{A}.lora.dropout: must be below 1", field=f"{A}.lora.dropout")
    max_len = a.max_seq_length or min(model_max_length or 2048, 2048)
    dpo = spec.train.dpo
    loss_type = dpo.loss_type or "sigmoid"
    if loss_type not in DPO_LOSS_TYPES:
        raise InvalidInput(f"train.dpo.lossType: unknown {loss_type!r} (valid: {', '.join(DPO_LOSS_TYPES)})",
                           field="train.dpo.lossType")
    _positive(dpo.beta, "train.dpo.beta")
    _positive(dpo.rpo_alpha, "train.dpo.rpoAlpha")
    dpo_max = dpo.max_length or max_len
    r = lora.r or 16
    resolved = TrainArgs(
        learning_rate=a.learning_rate or (2e-4 if lora.enabled else 2e-5),
        lr_scheduler_type=scheduler,
        warmup_ratio=a.warmup_ratio,
        num_train_epochs=a.num_train_epochs or 1.0,
        max_steps=a.max_steps if a.max_steps > 0 else -1,
        batch_size=batch,
        eval_batch_size=a.per_device_eval_batch_size or batch,
        gradient_accumulation_steps=accum,
        world_size=world_size,
        global_batch_size=batch * accum * world_size,
        gradient_checkpointing=a.gradient_checkpointing,
        max_seq_length=max_len,
        torch_dtype=a.torch_dtype,
        bf16=a.bf16,
        optim=optim,
        weight_decay=a.weight_decay,
        adam_betas=(a.adam_beta1 or 0.9, a.adam_beta2 or 0.999),
        adam_epsilon=a.adam_epsilon or 1e-8,
        max_grad_norm=a.max_grad_norm or 1.0,
        save_steps=a.save_steps or 500,
        eval_steps=a.eval_steps,
        logging_steps=a.logging_steps or 1,
        seed=a.seed or 42,
        assistant_only_loss=a.assistant_only_loss,
        packing=a.packing,
        chat_template=a.chat_template,
        lora=LoraResolved(
            enabled=lora.enabled, r=r, alpha=lora.alpha or float(r), dropout=lora.dropout,
            target_modules=list(lora.target_modules), modules_to_save=list(lora.modules_to_save),
            load_in_4bit=lora.load_in_4bit,
        ),
        dpo_beta=dpo.beta or 0.1,
        dpo_loss_type=loss_type,
        dpo_rpo_alpha=dpo.rpo_alpha,
        dpo_max_length=dpo_max,
        dpo_max_prompt_length=dpo.max_prompt_length or max(1, dpo_max // 2),
    )
    if a.dataset_mixer or a.dataset_splits:
        log.info("datasetMixer/datasetSplits are resolved by the datasets service; the runtime reads train.trainFile")
    return resolved


def _accumulation(global_batch: int, batch: int, accum: int, world: int) -> int:
    """Gradient accumulation steps: `global / (per-device batch × world size)` when the global batch
    is set (0 accumulation = derive it), else the spec's (default 1)."""
    if not global_batch:
        return accum or 1
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
