"""Model loading for the inference commands (merge, generate, score)."""

from __future__ import annotations

import torch

from .errors import InvalidInput
from .modeling import install_kernels, load_adapter, load_model, merge_adapter, resolve_device


def open_model(spec, dtype: torch.dtype | None = None, chat_template: str = "", template_field: str = ""):
    """(model, tokenizer, device, kernel mode): the base with `spec.adapter` folded in, in eval mode."""
    if not spec.output_dir and spec.command == "merge":
        raise InvalidInput("outputDir: required", field="outputDir")
    device = resolve_device(spec.device)
    mode = install_kernels(spec.kernels)
    model, tokenizer = load_model(spec.model, device, dtype, tokenizer_dir=spec.tokenizer)
    if spec.adapter:
        model = merge_adapter(load_adapter(model, spec.adapter, "adapter"))
    if chat_template:
        tokenizer.chat_template = chat_template
    model.eval()
    return model, tokenizer, device, mode
