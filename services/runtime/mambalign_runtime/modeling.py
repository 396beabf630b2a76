"""Loading models (preset, local directory, Hub id), adapters, LoRA, merging and saving."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from . import kernels
from .errors import InvalidInput, RuntimeFailure
from .lora import (MAMBA_DEFAULT_TARGETS, MAMBA_MODEL_TYPES, UNSUPPORTED_MAMBA_TARGETS, mamba_targets_allowed,
                   wire_lora_layers)
from .preset import PRESETS

log = logging.getLogger("mambalign_runtime")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(requested: str) -> torch.device:
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as err:
            raise InvalidInput(f"device: {err}", field="device") from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InvalidInput(f"device: {requested!r} requested but CUDA is not available", field="device")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(name: str, field: str) -> torch.dtype | None:
    """None keeps the checkpoint's dtype ("" or "auto")."""
    if name in ("", "auto"):
        return None
    if name not in DTYPES:
        raise InvalidInput(f"{field}: unknown dtype {name!r} (valid: auto, {', '.join(DTYPES)})", field=field)
    return DTYPES[name]


def install_kernels(mode: str) -> str:
    try:
        return kernels.install(mode or "auto")
    except (ValueError, RuntimeError) as err:
        raise InvalidInput(str(err), field="kernels") from err


def load_model(ref: str, device: torch.device, dtype: torch.dtype | None = None, quantization_config=None,
               tokenizer_dir: str = ""):
    """(model, tokenizer) from "preset:<name>", a local directory, or a Hub id ("org/name[@revision]").

    `s3://` sources are the trainer's to stage: the runtime reads local paths only."""
    if not ref:
        raise InvalidInput("model: required", field="model")
    if ref.startswith("s3://"):
        raise InvalidInput(f"model: {ref} is an object-store prefix; the trainer stages it to a local directory "
                           f"before starting the runtime, which reads local paths, Hub ids and presets only",
                           field="model")
    if ref.startswith("preset:"):
        name = ref.split(":", 1)[1]
        if name not in PRESETS:
            raise InvalidInput(f"model: unknown preset {name!r} (valid: {', '.join(PRESETS)})", field="model")
        if quantization_config is not None:
            model, tokenizer = _quantized_preset(PRESETS[name], tokenizer_dir, quantization_config, device)
        else:
            model, tokenizer = PRESETS[name](device, tokenizer_dir)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        local = Path(ref)
        if local.is_dir():
            source, kwargs = str(local), {}
        elif ref.startswith(("/", ".", "~")) or local.exists():
            raise InvalidInput(f"model: {ref} is not a model directory", field="model")
        else:
            source, _, revision = ref.partition("@")
            kwargs = {"revision": revision or "main"}
        placement = {"device_map": {"": device}} if quantization_config is not None else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype or "auto", quantization_config=quantization_config, **kwargs, **placement
            )
        except OSError as err:
            where = "local directory" if not kwargs else f"Hugging Face Hub (revision {kwargs['revision']})"
            raise RuntimeFailure(
                f"model: cannot load {source!r} from the {where}: {err}. Without access to the Hub, supply the "
                f"model as a local directory (`model: /path/to/{source.rsplit('/', 1)[-1]}`, e.g. made with "
                f"`huggingface-cli download {source}`) or as an s3:// prefix the trainer stages, or use a preset",
                field="model", retryable=bool(kwargs),
            ) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if dtype is not None and quantization_config is None:
        model = model.to(dtype)
    if quantization_config is None:
        model = model.to(device)
    return model, tokenizer


def _quantized_preset(builder, tokenizer_dir: str, quantization_config, device: torch.device):
    """A preset in 4 bits: built on the CPU, saved, and loaded back through from_pretrained, which is
    where transformers applies bitsandbytes' quantisation."""
    import tempfile

    from transformers import AutoModelForCausalLM

    model, tokenizer = builder(None, tokenizer_dir)
    with tempfile.TemporaryDirectory(prefix="mambalign-preset-") as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        del model
        quantized = AutoModelForCausalLM.from_pretrained(tmp, quantization_config=quantization_config,
                                                         device_map={"": device})
    return quantized, tokenizer


def is_mamba(model) -> bool:
    return getattr(model.config, "model_type", "") in MAMBA_MODEL_TYPES


def lora_config(model, r: int, alpha: float, dropout: float, targets: list[str], modules_to_save: list[str],
                field: str) -> LoraConfig:
    if not targets:
        targets = list(MAMBA_DEFAULT_TARGETS) if is_mamba(model) else []
    if is_mamba(model):
        for i, target in enumerate(targets):
            if target.rsplit(".", 1)[-1] in UNSUPPORTED_MAMBA_TARGETS:
                where = f"{field}.targetModules[{i}]"
                raise InvalidInput(
                    f"{where}: LoRA on {target!r} is not supported on Mamba (its weight is read directly by the "
                    f"convolution, so an adapter there would never train); use in_proj, x_proj, dt_proj, out_proj, "
                    f"embeddings",
                    field=where,
                )
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets or None,
        modules_to_save=modules_to_save or None, task_type="CAUSAL_LM",
    )


def add_lora(model, config: LoraConfig, field: str):
    """A fresh trainable LoRA adapter on `model` (a PeftModel)."""
    try:
        with mamba_targets_allowed():
            peft_model = get_peft_model(model, config)
    except ValueError as err:
        raise InvalidInput(f"{field}.targetModules: {err}", field=f"{field}.targetModules") from err
    wire_lora_layers(peft_model)
    return peft_model


def load_adapter(model, adapter_dir: str, field: str, trainable: bool = False):
    """A PeftModel with the adapter saved in `adapter_dir` (PEFT format)."""
    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise InvalidInput(f"{field}: {adapter_dir} holds no PEFT adapter (adapter_config.json)", field=field)
    with mamba_targets_allowed():
        peft_model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)
    wire_lora_layers(peft_model)
    return peft_model


def merge_adapter(peft_model):
    """Fold the adapter into the base weights and return the plain model.

    When the (tied) input embeddings carry an adapter, the output head is untied first so it
    keeps the base weights: that is what the adapted model computed.
    """
    base = peft_model.get_base_model()
    embed = base.get_input_embeddings()
    head = base.get_output_embeddings()
    adapted_embeddings = any(
        name.endswith(".lora_embedding_A") or ".lora_embedding_A." in name for name, _ in peft_model.named_parameters()
    )
    if adapted_embeddings and head is not None and head.weight is getattr(embed, "base_layer", embed).weight:
        head.weight = torch.nn.Parameter(head.weight.detach().clone())
        base.config.tie_word_embeddings = False
        if getattr(base.config, "get_text_config", None):
            base.config.get_text_config().tie_word_embeddings = False
    return peft_model.merge_and_unload()


def save_model(model, tokenizer, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
