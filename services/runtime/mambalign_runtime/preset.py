"""Built-in model presets: built from code with a fixed seed, no download.

`tiny-mamba-char` is a small MambaForCausalLM and a character-level tokenizer
(one token per printable ASCII character). Like Mamba's GPT-NeoX tokenizer it uses
token 0 for bos = eos = pad, so everything downstream is exercised on the same trap.

`mamba-2.8b-random` has the shape of state-spaces/mamba-2.8b-hf (64 layers, d_model 2560,
d_inner 5120, d_state 16, dt_rank 160, conv 4, vocab 50280 = GPT-NeoX's 50277 padded to a
multiple of 8, tied embeddings) with random weights, built directly on the target device; its
tokenizer is GPT-NeoX's, read from `tokenizer` in the spec or MAMBALIGN_TOKENIZER_DIR (no
download), with Zephyr's chat template unless the tokenizer has one.
"""

from __future__ import annotations

import os
import string

import torch
from tokenizers import Tokenizer, decoders, models
from transformers import MambaConfig, MambaForCausalLM, PreTrainedTokenizerFast

EOS = "<|endoftext|>"
UNK = "<|unk|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")

# Each turn is its role token then the content; an assistant turn ends with EOS so the
# model learns to stop. Role tokens are single tokens to keep the demo's sequences short.
CHAR_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

PRESET_SEED = 1234


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    chars = [c for c in string.printable if c not in "\r\x0b\x0c"]
    vocab = {EOS: 0, UNK: 1}
    for token in ROLE_TOKENS:
        vocab[token] = len(vocab)
    for c in chars:
        vocab[c] = len(vocab)
    # BPE without merges splits a word into characters; no pre-tokenizer keeps spaces as tokens.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=EOS,
        eos_token=EOS,
        pad_token=EOS,
        unk_token=UNK,
        additional_special_tokens=list(ROLE_TOKENS),
        model_max_length=256,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAR_CHAT_TEMPLATE
    return tokenizer


def build_tiny_mamba_char() -> tuple[MambaForCausalLM, PreTrainedTokenizerFast]:
    tokenizer = build_char_tokenizer()
    vocab_size = ((len(tokenizer) + 7) // 8) * 8
    config = MambaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        state_size=16,
        num_hidden_layers=2,
        expand=2,
        conv_kernel=4,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    # A fixed seed makes the preset the same weights on every machine, without touching
    # the caller's RNG streams (they decide data order and dropout).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(PRESET_SEED)
        model = MambaForCausalLM(config)
    return model, tokenizer


TOKENIZER_DIR_ENV = "MAMBALIGN_TOKENIZER_DIR"

# state-spaces/mamba-2.8b-hf's config.json, in MambaConfig's terms.
MAMBA_2_8B = dict(vocab_size=50280, hidden_size=2560, intermediate_size=5120, state_size=16, num_hidden_layers=64,
                  expand=2, conv_kernel=4, time_step_rank=160, layer_norm_epsilon=1e-5, use_bias=False,
                  use_conv_bias=True, residual_in_fp32=True, initializer_range=0.1, time_step_min=0.001,
                  time_step_max=0.1, time_step_floor=1e-4, bos_token_id=0, eos_token_id=0, pad_token_id=0,
                  tie_word_embeddings=True)


def mamba_2_8b_config(**overrides) -> MambaConfig:
    """The 2.8B config; `overrides` make the small variants tests build."""
    return MambaConfig(**{**MAMBA_2_8B, **overrides})


# The alignment-handbook's Zephyr template (what the handbook applies to tokenizers without one).
ZEPHYR_CHAT_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)
NEOX_EOS = "<|endoftext|>"


def gpt_neox_tokenizer(tokenizer_dir: str):
    """GPT-NeoX's tokenizer from `tokenizer_dir` (spec `tokenizer`) or MAMBALIGN_TOKENIZER_DIR: a
    saved tokenizer directory, or one holding only tokenizer.json (then <|endoftext|>, id 0, is
    bos = eos = pad, as in Mamba's checkpoints)."""
    from pathlib import Path

    from transformers import AutoTokenizer

    from .errors import InvalidInput

    source = tokenizer_dir or os.environ.get(TOKENIZER_DIR_ENV, "")
    if not source:
        raise InvalidInput(f"tokenizer: preset:mamba-2.8b-random needs the GPT-NeoX tokenizer; set `tokenizer` in the "
                           f"spec or {TOKENIZER_DIR_ENV} to a directory holding its tokenizer.json", field="tokenizer")
    path = Path(source)
    if (path / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    elif (path / "tokenizer.json").is_file():
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"), bos_token=NEOX_EOS,
                                            eos_token=NEOX_EOS, pad_token=NEOX_EOS, model_max_length=2048,
                                            clean_up_tokenization_spaces=False)
    else:
        raise InvalidInput(f"tokenizer: {source} holds no tokenizer.json", field="tokenizer")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = ZEPHYR_CHAT_TEMPLATE
    return tokenizer


def build_random_mamba(config: MambaConfig, tokenizer, device: torch.device | None = None) -> tuple[MambaForCausalLM, object]:
    """Random weights with a fixed seed, allocated on `device` directly (2.8B fp32 is 11 GB: no CPU
    detour), without touching the caller's RNG streams."""
    device = device or torch.device("cpu")
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens but the model only {config.vocab_size}")
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda" if cuda else "cpu"):
        torch.manual_seed(PRESET_SEED)
        with device:
            model = MambaForCausalLM(config)
    return model, tokenizer


def build_mamba_2_8b_random(device: torch.device | None = None, tokenizer_dir: str = ""):
    return build_random_mamba(mamba_2_8b_config(), gpt_neox_tokenizer(tokenizer_dir), device)


def _tiny(device: torch.device | None = None, tokenizer_dir: str = ""):
    return build_tiny_mamba_char()


# name -> builder(device, tokenizer_dir) -> (model, tokenizer)
PRESETS = {"tiny-mamba-char": _tiny, "mamba-2.8b-random": build_mamba_2_8b_random}
