"""JSONL inputs, chat rendering and tokenisation with loss masks.

Masks come from positions, never from token ids: Mamba's tokenizer uses token 0 for
bos = eos = pad, so masking "pad" by id would also hide every EOS and the model would
never learn to stop. Rows are right-padded; `attention_mask` marks real tokens and
`loss_mask` the real tokens that are trained on (all of them, or the completion only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import InvalidInput

Messages = list[dict[str, str]]


def read_jsonl(path: str, field: str) -> list[tuple[int, dict[str, Any]]]:
    """(1-based row number, object) for every non-blank line; errors name the spec field or file:row."""
    if not path:
        raise InvalidInput(f"{field}: required", field=field)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise InvalidInput(f"{field}: cannot read {path}: {err.strerror}", field=field) from err
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InvalidInput(f"{where}: not JSON ({err.msg})", field=where) from err
        if not isinstance(obj, dict):
            raise InvalidInput(f"{where}: expected a JSON object", field=where)
        rows.append((number, obj))
    if not rows:
        raise InvalidInput(f"{field}: {path} has no rows", field=field)
    return rows


def parse_messages(value: Any, where: str, key: str) -> Messages:
    """A list of {role, content} (a bare string is one user turn)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{where}: {key} must be a non-empty list of messages", field=where)
    messages = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise InvalidInput(f"{where}: {key}[{i}] must be {{\"role\": str, \"content\": str}}", field=where)
        messages.append({"role": m["role"], "content": m["content"]})
    return messages


def _as_completion(value: Any, where: str, key: str) -> Messages:
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    return parse_messages(value, where, key)


@dataclass
class PreferenceRow:
    prompt: Messages
    chosen: Messages
    rejected: Messages


def parse_preference(obj: dict[str, Any], where: str) -> PreferenceRow:
    """Accept UltraFeedback-binarized rows (chosen/rejected are whole conversations that
    repeat the prompt) and plain rows (chosen/rejected are only the assistant turns)."""
    for key in ("chosen", "rejected"):
        if key not in obj:
            raise InvalidInput(f"{where}: missing {key!r}", field=where)
    chosen = _as_completion(obj["chosen"], where, "chosen")
    rejected = _as_completion(obj["rejected"], where, "rejected")
    if obj.get("prompt") is not None:
        prompt = parse_messages(obj["prompt"], where, "prompt")
    else:
        # No prompt: it is everything before the last assistant turn of `chosen`.
        last = max((i for i, m in enumerate(chosen) if m["role"] == "assistant"), default=-1)
        if last <= 0:
            raise InvalidInput(f"{where}: no 'prompt' and 'chosen' has no turns before its assistant answer", field=where)
        prompt = chosen[:last]
    chosen = _strip_prompt(prompt, chosen)
    rejected = _strip_prompt(prompt, rejected)
    for key, completion in (("chosen", chosen), ("rejected", rejected)):
        if not completion:
            raise InvalidInput(f"{where}: {key} has no completion after the prompt", field=where)
    return PreferenceRow(prompt, chosen, rejected)


def _strip_prompt(prompt: Messages, conversation: Messages) -> Messages:
    if len(conversation) > len(prompt) and conversation[: len(prompt)] == prompt:
        return conversation[len(prompt):]
    # UltraFeedback-binarized keeps the prompt as a string and the user turn in chosen/rejected.
    if len(prompt) == 1 and conversation and conversation[0] == prompt[0]:
        return conversation[1:]
    return conversation


class ChatEncoder:
    """Renders conversations with the tokenizer's chat template and tokenises them with masks."""

    def __init__(self, tokenizer, max_length: int, template_field: str):
        if not tokenizer.chat_template:
            raise InvalidInput(
                f"{template_field}: the model's tokenizer has no chat template; set {template_field}",
                field=template_field,
            )
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.template_field = template_field

    def render(self, messages: Messages, add_generation_prompt: bool = False) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def _tokenize(self, text: str) -> tuple[list[int], list[int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(enc["input_ids"]), [start for start, _ in enc["offset_mapping"]]

    def _prefix_len(self, full: str, head: Messages, add_generation_prompt: bool, where: str) -> int:
        prefix = self.render(head, add_generation_prompt=add_generation_prompt)
        if not full.startswith(prefix):
            raise InvalidInput(
                f"{where}: the chat template does not render a conversation's start as a prefix of the whole "
                f"conversation, so completion tokens cannot be located; use another {self.template_field}",
                field=self.template_field,
            )
        return len(prefix)

    def encode_conversation(self, messages: Messages, assistant_only: bool, where: str) -> tuple[list[int], list[int]]:
        """SFT row -> (ids, loss mask): every token, or only assistant turns (their EOS included)."""
        full = self.render(messages)
        ids, starts = self._tokenize(full)
        if assistant_only:
            spans = []
            for i, m in enumerate(messages):
                if m["role"] == "assistant":
                    begin = self._prefix_len(full, messages[:i], True, where) if i else 0
                    end = self._prefix_len(full, messages[: i + 1], False, where)
                    spans.append((begin, end))
            mask = [int(any(b <= s < e for b, e in spans)) for s in starts]
        else:
            mask = [1] * len(ids)
        ids, mask = ids[: self.max_length], mask[: self.max_length]
        if not any(mask[1:]):
            raise InvalidInput(f"{where}: no trainable tokens (no assistant turn within max length)", field=where)
        return ids, mask

    def encode_completion(self, prompt: Messages, completion: Messages, max_prompt_length: int,
                          where: str) -> tuple[list[int], list[int]]:
        """prompt + completion -> (ids, completion mask); the prompt is cut from the left first."""
        full = self.render(prompt + completion)
        boundary = self._prefix_len(full, prompt, True, where)
        ids, starts = self._tokenize(full)
        mask = [int(s >= boundary) for s in starts]
        n_prompt = mask.index(1) if 1 in mask else len(mask)
        if len(ids) > self.max_length and n_prompt > max_prompt_length:
            cut = n_prompt - max_prompt_length
            ids, mask = ids[cut:], mask[cut:]
        ids, mask = ids[: self.max_length], mask[: self.max_length]
        if not any(mask):
            raise InvalidInput(f"{where}: the completion does not fit in max length {self.max_length}", field=where)
        return ids, mask

    def encode_prompt(self, messages: Messages) -> list[int]:
        text = self.render(messages, add_generation_prompt=True)
        return self._tokenize(text)[0][-self.max_length:]


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad (ids, loss mask) rows; attention_mask is 1 exactly on real tokens."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    loss_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, mask) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[i, : len(ids)] = 1
        loss_mask[i, : len(ids)] = torch.tensor(mask, dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention, "loss_mask": loss_mask * attention}


def next_token_logps(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """(batch, seq-1): log-probability, in fp32, that position t gives token t+1."""
    logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return torch.gather(logps, 2, input_ids[:, 1:].long().unsqueeze(-1)).squeeze(-1)


def token_logps(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each next token and whether it counts: both (batch, seq-1).

    Position t scores token t+1; it counts when token t+1 is real and in the loss mask.
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    picked = next_token_logps(logits, batch["input_ids"])
    weights = batch["loss_mask"][:, 1:].to(picked.dtype)
    return picked, weights
