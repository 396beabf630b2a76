"""Built-in model presets: built from code with a fixed seed, no download.

`tiny-mamba-char` is a small MambaForCausalLM and a character-level tokenizer
(one token per printable ASCII character). Like Mamba's GPT-NeoX tokenizer it uses
token 0 for bos = eos = pad, so everything downstream is exercised on the same trap.
"""

from __future__ import annotations

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


PRESETS = {"tiny-mamba-char": build_tiny_mamba_char}
