"""RuntimeSpec (proto/mambalign/v1/runtime.proto) read from proto3 JSON.

proto3 JSON omits default values, so every field is optional here; training arguments come
resolved from the recipe and `train_args.validate_train_args` refuses a missing required one.
tests/test_spec_proto.py checks these classes against the proto's descriptors.
Parsers accept the lowerCamelCase JSON name and the original snake_case name, reject
unknown keys, and name the field at fault in proto3 JSON spelling ("train.args.lora.r").
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from .errors import InvalidInput

COMMANDS = ("sft", "dpo", "merge", "generate", "score", "tokenize", "bench")


@dataclass
class LoraArgs:
    enabled: bool = False
    r: int = 0
    alpha: float = 0.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)
    modules_to_save: list[str] = field(default_factory=list)
    load_in_4bit: bool = False


@dataclass
class TrainingArgs:
    dataset_mixer: dict[str, float] = field(default_factory=dict)
    dataset_splits: list[str] = field(default_factory=list)
    learning_rate: float = 0.0
    lr_scheduler_type: str = ""
    warmup_ratio: float = 0.0
    num_train_epochs: float = 0.0
    max_steps: int = 0
    per_device_train_batch_size: int = 0
    per_device_eval_batch_size: int = 0
    gradient_accumulation_steps: int = 0
    global_batch_size: int = 0
    gradient_checkpointing: bool = False
    max_seq_length: int = 0
    packing: bool = False
    torch_dtype: str = ""
    bf16: bool = False
    optim: str = ""
    weight_decay: float = 0.0
    adam_beta1: float = 0.0
    adam_beta2: float = 0.0
    adam_epsilon: float = 0.0
    max_grad_norm: float = 0.0
    save_steps: int = 0
    eval_steps: int = 0
    logging_steps: int = 0
    seed: int = 0
    lora: LoraArgs = field(default_factory=LoraArgs)
    chat_template: str = ""
    assistant_only_loss: bool = False
    save_every_minutes: float = 0.0
    report_to: list[str] = field(default_factory=list)
    mlflow_tracking_uri: str = ""


@dataclass
class DpoArgs:
    beta: float = 0.0
    loss_type: str = ""
    max_length: int = 0
    max_prompt_length: int = 0
    rpo_alpha: float = 0.0


@dataclass
class TrainSpec:
    train_file: str = ""
    eval_file: str = ""
    args: TrainingArgs = field(default_factory=TrainingArgs)
    dpo: DpoArgs = field(default_factory=DpoArgs)
    resume_from: str = ""
    reference_cache_dir: str = ""


@dataclass
class MergeSpec:
    dtype: str = ""


@dataclass
class GenerateSpec:
    prompts_file: str = ""
    output_file: str = ""
    max_new_tokens: int = 0
    temperature: float = 0.0
    batch_size: int = 0
    seed: int = 0
    chat_template: str = ""
    eager: bool = False


@dataclass
class ScoreSpec:
    prefs_file: str = ""
    sft_file: str = ""
    output_file: str = ""
    batch_size: int = 0
    chat_template: str = ""
    max_length: int = 0


@dataclass
class TokenizeSpec:
    inputs: dict[str, str] = field(default_factory=dict)
    kind: str = ""
    max_length: int = 0
    pack: bool = False
    assistant_only: bool = False
    chat_template: str = ""
    shard_rows: int = 0
    workers: int = 0


@dataclass
class RuntimeSpec:
    command: str = ""
    model: str = ""
    adapter: str = ""
    output_dir: str = ""
    kernels: str = ""
    device: str = ""
    tokenizer: str = ""
    train: TrainSpec = field(default_factory=TrainSpec)
    merge: MergeSpec = field(default_factory=MergeSpec)
    generate: GenerateSpec = field(default_factory=GenerateSpec)
    score: ScoreSpec = field(default_factory=ScoreSpec)
    tokenize: TokenizeSpec = field(default_factory=TokenizeSpec)
    run_id: str = ""


# Integer fields that are uint32 in the proto (everything else integral is int32).
_SIGNED_INTS = {"max_steps"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _parse_scalar(kind: type, value: Any, where: str, signed: bool) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise InvalidInput(f"{where}: expected true or false, got {json.dumps(value)}", field=where)
    if kind is str:
        if isinstance(value, str):
            return value
        raise InvalidInput(f"{where}: expected a string, got {json.dumps(value)}", field=where)
    if kind is int:
        # proto3 JSON allows integers as numbers or decimal strings.
        number: Any = value
        if isinstance(value, str):
            try:
                number = int(value, 10)
            except ValueError:
                number = None
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        if not isinstance(number, int) or isinstance(number, bool):
            raise InvalidInput(f"{where}: expected an integer, got {json.dumps(value)}", field=where)
        low, high = (-(2**31), 2**31 - 1) if signed else (0, 2**32 - 1)
        if not low <= number <= high:
            raise InvalidInput(f"{where}: {number} is out of range [{low}, {high}]", field=where)
        return number
    if kind is float:
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            raise InvalidInput(f"{where}: must be a finite number, got {value}", field=where)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise InvalidInput(f"{where}: expected a number, got {json.dumps(value)}", field=where) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInput(f"{where}: expected a number, got {json.dumps(value)}", field=where)
        return float(value)
    raise TypeError(f"unsupported field type {kind}")


def _parse_message(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise InvalidInput(f"{prefix or 'spec'}: expected a JSON object", field=prefix)
    hints = get_type_hints(cls)
    by_json_name: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        by_json_name[camel(f.name)] = f.name
        by_json_name[f.name] = f.name
    values: dict[str, Any] = {}
    for key, raw in data.items():
        name = by_json_name.get(key)
        where = _path(prefix, key if name is None else camel(name))
        if name is None:
            valid = ", ".join(camel(f.name) for f in dataclasses.fields(cls))
            raise InvalidInput(f"{where}: unknown field (valid: {valid})", field=where)
        if raw is None:
            continue  # proto3 JSON: null means the default value
        kind = hints[name]
        origin = get_origin(kind)
        if origin is list:
            if not isinstance(raw, list):
                raise InvalidInput(f"{where}: expected a list", field=where)
            (item,) = get_args(kind)
            values[name] = [_parse_scalar(item, v, f"{where}[{i}]", False) for i, v in enumerate(raw)]
        elif origin is dict:
            if not isinstance(raw, dict):
                raise InvalidInput(f"{where}: expected an object", field=where)
            _, item = get_args(kind)
            values[name] = {k: _parse_scalar(item, v, f"{where}.{k}", False) for k, v in raw.items()}
        elif dataclasses.is_dataclass(kind):
            values[name] = _parse_message(kind, raw, where)
        else:
            values[name] = _parse_scalar(kind, raw, where, name in _SIGNED_INTS)
    return cls(**values)


def parse_spec(data: Any) -> RuntimeSpec:
    """Parse a decoded proto3-JSON RuntimeSpec; raises InvalidInput naming the field at fault."""
    spec = _parse_message(RuntimeSpec, data, "")
    if spec.command and spec.command not in COMMANDS:
        raise InvalidInput(f"command: unknown command {spec.command!r} (valid: {', '.join(COMMANDS)})", field="command")
    return spec


def load_spec(path: str | Path) -> RuntimeSpec:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInput(f"--spec: cannot read {path}: {err.strerror}", field="--spec") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"--spec: {path} is not JSON: {err}", field="--spec") from err
    return parse_spec(data)


def to_json(message: Any) -> dict[str, Any]:
    """proto3 JSON of a spec message (defaults omitted), used to record the resolved spec."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        if dataclasses.is_dataclass(value):
            nested = to_json(value)
            if nested:
                out[camel(f.name)] = nested
        elif value not in (0, 0.0, "", False, [], {}) or isinstance(value, bool) and value:
            out[camel(f.name)] = value
    return out
