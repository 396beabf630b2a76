"""Merge: base model + PEFT adapter -> one full model (safetensors + config + tokenizer)."""

from __future__ import annotations

import time
from pathlib import Path

from .errors import InvalidInput
from .events import EventWriter
from .inference import open_model
from .model_source import model_versions
from .modeling import resolve_dtype, save_model
from .spec import RuntimeSpec
from .training import versions


def run_merge(spec: RuntimeSpec, events: EventWriter) -> int:
    started = time.time()
    if not spec.adapter:
        raise InvalidInput("adapter: required for merge", field="adapter")
    dtype = resolve_dtype(spec.merge.dtype, "merge.dtype")
    model, tokenizer, device, mode = open_model(spec)
    events.started("merge", 1, 0, str(device), {**versions(mode), **model_versions(spec.model, model, spec.adapter)})
    if dtype is not None:
        model = model.to(dtype)
    target = Path(spec.output_dir) / "merged"
    save_model(model, tokenizer, target)
    events.artifact("model", str(target))
    events.finished("completed", 1, time.time() - started)
    return 0
