"""Dataset tokenisation for the datasets service: chat template + Hugging Face `tokenizers`.

`python -m mambalign_runtime tokenize --input [SPLIT=]train.jsonl ... --tokenizer tokenizer.json --out DIR
 [--split train] [--kind sft|preference] [--max-length 2048] [--pack] [--assistant-only]
 [--chat-template-file F] [--shard-rows 8192]`

Tokenisation runs here, in the Rust `tokenizers` library that transformers wraps, so ids are
the ones Hugging Face produces by construction (tests/test_tokenize_parity.py checks every
MT-Bench and AlpacaEval text against `tokenizers.Tokenizer` directly). Conversations are
rendered with the chat template exactly as transformers renders it (`apply_chat_template`).

SFT rows become shards (packing.py) with their loss masks and document boundaries; preference
rows only yield length statistics (the DPO loop pairs prompts and completions itself). Either
way `<split>-tokens.json` holds the statistics the dataset card shows: a token-length
histogram, how many documents were truncated, token counts. stdout carries RuntimeEvents
(`artifact` per file written); logs go to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from .errors import EXIT_INVALID, InvalidInput, RuntimeFailure
from .events import EventWriter
from .model_source import file_sha256

Messages = list[dict[str, str]]

log = logging.getLogger("mambalign_runtime")

# The alignment-handbook's Zephyr template (what its recipes set as chat_template): the default
# when neither the request nor the tokenizer brings one (GPT-NeoX's tokenizer has none).
ZEPHYR_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)
HISTOGRAM_BINS = 32


class ChatTokenizer:
    """`tokenizers.Tokenizer` (the Rust library transformers wraps) plus the chat template, rendered
    by transformers' own `render_jinja_template` (what `apply_chat_template` calls), without
    importing torch or a model class, so a datasets job starts in well under a second."""

    def __init__(self, tokenizer, chat_template: str, special_tokens: dict[str, str]):
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.special_tokens = special_tokens
        self.eos_token = special_tokens["eos_token"]
        self.pad_token_id = tokenizer.token_to_id(special_tokens.get("pad_token", self.eos_token))

    def render(self, messages: Messages, add_generation_prompt: bool = False) -> str:
        from transformers.utils.chat_template_utils import render_jinja_template

        rendered, _ = render_jinja_template(conversations=[messages], chat_template=self.chat_template,
                                            add_generation_prompt=add_generation_prompt, **self.special_tokens)
        return rendered[0]

    def encode_batch(self, texts: list[str]):
        return self.tokenizer.encode_batch(texts, add_special_tokens=False)


def load_tokenizer(path: str, chat_template: str = "") -> ChatTokenizer:
    """`tokenizer.json` (a file, or a directory holding it and optionally tokenizer_config.json).
    The template: `chat_template`, else tokenizer_config.json's, else Zephyr's."""
    from tokenizers import Tokenizer

    p = Path(path)
    file = p / "tokenizer.json" if p.is_dir() else p
    if not file.is_file():
        raise InvalidInput(f"--tokenizer: {path} is neither tokenizer.json nor a directory holding it", field="--tokenizer")
    try:
        tok = Tokenizer.from_file(str(file))
    except Exception as err:  # the Rust library raises plain Exceptions for a malformed file
        raise InvalidInput(f"--tokenizer: {file} is not a tokenizer.json ({err})", field="--tokenizer") from err
    config: dict[str, Any] = {}
    if p.is_dir() and (p / "tokenizer_config.json").is_file():
        config = json.loads((p / "tokenizer_config.json").read_text(encoding="utf-8"))
    special: dict[str, str] = {}
    for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
        value = config.get(key)
        if isinstance(value, dict):  # AddedToken form
            value = value.get("content")
        if isinstance(value, str):
            special[key] = value
    if "eos_token" not in special:
        # GPT-NeoX's tokenizer.json: <|endoftext|> (id 0) is bos = eos = pad.
        if tok.token_to_id("<|endoftext|>") is None:
            raise InvalidInput(f"--tokenizer: {path} names no eos token and has no <|endoftext|>", field="--tokenizer")
        special["eos_token"] = "<|endoftext|>"
    special.setdefault("pad_token", special["eos_token"])
    template = chat_template or config.get("chat_template") or ZEPHYR_TEMPLATE
    if not isinstance(template, str):
        raise InvalidInput(f"--tokenizer: {path}: only a single (string) chat_template is supported", field="--tokenizer")
    return ChatTokenizer(tok, template, special)


def encode_texts(tokenizer: ChatTokenizer, texts: list[str]) -> list[list[int]]:
    """Plain texts -> ids (no special tokens added), batched through the Rust tokenizer."""
    return [e.ids for e in tokenizer.encode_batch(texts)]


def _prefix_len(tok: ChatTokenizer, full: str, head: Messages, add_generation_prompt: bool, where: str) -> int:
    prefix = tok.render(head, add_generation_prompt=add_generation_prompt)
    if not full.startswith(prefix):
        raise InvalidInput(f"{where}: the chat template does not render a conversation's start as a prefix of the "
                           "whole conversation, so assistant tokens cannot be located; use another chat template",
                           field="--chat-template-file")
    return len(prefix)


def encode_sft_rows(tok: ChatTokenizer, rows: list[Messages], assistant_only: bool, where: str,
                    numbers: list[int] | None = None) -> list[tuple[list[int], list[int]]]:
    """Conversations -> (ids, loss mask) at full length (the caller truncates and counts it).

    Rendering is per row (Jinja); tokenisation is one batch call (Rust, parallel). With
    `assistant_only` a token counts when it starts inside an assistant turn's rendering (its
    EOS included), as the training loop's own encoder does."""
    texts = [tok.render(m) for m in rows]
    out = []
    for i, (messages, text, enc) in enumerate(zip(rows, texts, tok.encode_batch(texts))):
        ids = list(enc.ids)
        if assistant_only:
            at = f"{where}:{numbers[i] if numbers else i + 1}"
            spans = []
            for j, m in enumerate(messages):
                if m["role"] == "assistant":
                    begin = _prefix_len(tok, text, messages[:j], True, at) if j else 0
                    end = _prefix_len(tok, text, messages[: j + 1], False, at)
                    spans.append((begin, end))
            mask = [int(any(b <= s < e for b, e in spans)) for s, _ in enc.offsets]
        else:
            mask = [1] * len(ids)
        out.append((ids, mask))
    return out


def length_histogram(lengths: list[int], bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Equal-width bins from 0 to the longest length (edges has bins + 1 entries)."""
    top = max(lengths, default=0)
    width = max(1, math.ceil((top + 1) / bins))
    counts = [0] * bins
    for n in lengths:
        counts[min(n // width, bins - 1)] += 1
    return {"edges": [i * width for i in range(bins + 1)], "counts": counts}


def _read_rows(path: str) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, json.loads(line)


_WORKER_TOKENIZER: ChatTokenizer | None = None


def _init_worker(tokenizer_path: str, chat_template: str, loaded: ChatTokenizer | None = None) -> None:
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = loaded or load_tokenizer(tokenizer_path, chat_template)


def _pool(workers: int, tokenizer_path: str, chat_template: str):
    import multiprocessing

    # fork: workers start at once, with the package already imported.
    return multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker,
                                                    initargs=(tokenizer_path, chat_template))


def _encode_batch(item: tuple[tuple[str, bool, str], list[tuple[int, dict[str, Any]]]]) -> list:
    """SFT rows -> [(ids, mask)]; preference rows -> token lengths of prompt+chosen, prompt+rejected."""
    (kind, assistant_only, where), numbered = item
    rows = [obj for _, obj in numbered]
    tok = _WORKER_TOKENIZER
    if tok is None:
        raise RuntimeError("tokenizer worker not initialised")
    if kind == "sft":
        return encode_sft_rows(tok, [obj["messages"] for obj in rows], assistant_only, where, [n for n, _ in numbered])
    texts = []
    for obj in rows:
        texts += [tok.render(obj["prompt"] + obj["chosen"]), tok.render(obj["prompt"] + obj["rejected"])]
    return [len(ids) for ids in encode_texts(tok, texts)]


def tokenize_file(input_path: str, tokenizer_path: str, out_dir: str, split: str = "train", kind: str = "sft",
                  max_length: int = 2048, pack: bool = False, assistant_only: bool = False, chat_template: str = "",
                  shard_rows: int = 8192, batch_rows: int = 512, events: EventWriter | None = None,
                  workers: int = 0) -> dict[str, Any]:
    """Tokenises one normalised split (the datasets service's JSONL); returns the statistics.

    `workers` processes render and tokenise (0 = one per CPU core)."""
    from .packing import pack_documents, pad_documents, write_shard

    if kind not in ("sft", "preference"):
        raise InvalidInput(f"--kind: must be sft or preference, got {kind!r}", field="--kind")
    if max_length < 2:
        raise InvalidInput(f"--max-length: must be at least 2, got {max_length}", field="--max-length")
    started = time.time()
    tokenizer = load_tokenizer(tokenizer_path, chat_template)
    workers = workers or os.cpu_count() or 1
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lengths: list[int] = []
    truncated = 0
    docs: list[tuple[list[int], list[int]]] = []
    shards: list[str] = []
    rows_written = 0

    def flush_docs(final: bool) -> None:
        nonlocal docs, rows_written
        while docs and (final or len(docs) >= shard_rows):
            take, docs = docs[:shard_rows], docs[shard_rows:]
            packed = pack_documents(take, max_length, tokenizer.pad_token_id) if pack else \
                pad_documents(take, max_length, tokenizer.pad_token_id)
            name = f"{split}-{len(shards):05d}.safetensors"
            write_shard(out / name, packed)
            shards.append(name)
            rows_written += packed.input_ids.shape[0]
            if events:
                events.artifact("tokens", str(out / name))

    def batches() -> Iterable[list[tuple[int, dict[str, Any]]]]:
        batch: list[tuple[int, dict[str, Any]]] = []
        for number, obj in _read_rows(input_path):
            batch.append((number, obj))
            if len(batch) >= batch_rows:
                yield batch
                batch = []
        if batch:
            yield batch

    job = (kind, assistant_only, input_path)
    # Rendering (Jinja) is Python and serial: several processes share the work as datasets.map's
    # num_proc does; results come back in input order, so the output does not depend on it.
    # Small inputs are not worth starting processes for.
    pool = _pool(workers, tokenizer_path, chat_template) if workers > 1 and os.path.getsize(input_path) > (1 << 20) \
        else None
    try:
        _init_worker(tokenizer_path, chat_template, tokenizer)
        results = pool.imap(_encode_batch, ((job, b) for b in batches())) if pool else \
            (_encode_batch((job, b)) for b in batches())
        for encoded in results:
            if kind == "sft":
                for ids, mask in encoded:
                    lengths.append(len(ids))
                    if len(ids) > max_length:
                        truncated += 1
                        ids, mask = ids[:max_length], mask[:max_length]
                    docs.append((ids, mask))
                flush_docs(False)
            else:
                for n in encoded:
                    lengths.append(n)
                    truncated += n > max_length
    finally:
        if pool:
            pool.close()
            pool.join()
    flush_docs(True)
    seconds = time.time() - started
    stats = {
        "split": split,
        "kind": kind,
        "documents": len(lengths),
        "tokens": sum(min(n, max_length) for n in lengths),
        "truncated": truncated,
        "truncationRate": truncated / len(lengths) if lengths else 0.0,
        "maxLength": max_length,
        "packing": pack and kind == "sft",
        "assistantOnly": assistant_only,
        "rows": rows_written,
        "shards": shards,
        "histogram": length_histogram(lengths),
        "tokenizerSha256": file_sha256(str(Path(tokenizer_path) / "tokenizer.json") if Path(tokenizer_path).is_dir()
                                       else tokenizer_path),
        "chatTemplateSha256": hashlib.sha256(tokenizer.chat_template.encode()).hexdigest(),
        "rowsPerSecond": len(lengths) / max(seconds, 1e-9) if kind == "sft" else len(lengths) / 2 / max(seconds, 1e-9),
    }
    stats_path = out / f"{split}-tokens.json"
    stats_path.write_text(json.dumps(stats, indent=2) + "\n")
    if events:
        events.artifact("token-stats", str(stats_path))
    log.info("tokenised %s: %d documents, %d truncated, %.0f rows/s", input_path, len(lengths), truncated,
             stats["rowsPerSecond"])
    return stats


def run_tokenize(spec, events: EventWriter) -> int:
    """The `tokenize` command from a RuntimeSpec: every split of `spec.tokenize.inputs` into `spec.output_dir`."""
    t = spec.tokenize
    if not spec.tokenizer:
        raise InvalidInput("tokenizer: required (tokenizer.json or its directory)", field="tokenizer")
    if not spec.output_dir:
        raise InvalidInput("outputDir: required", field="outputDir")
    if not t.inputs:
        raise InvalidInput("tokenize.inputs: name at least one split", field="tokenize.inputs")
    if t.kind not in ("sft", "preference"):
        raise InvalidInput(f"tokenize.kind: expected 'sft' or 'preference', got {t.kind!r}", field="tokenize.kind")
    try:
        for split, path in t.inputs.items():
            tokenize_file(path, spec.tokenizer, spec.output_dir, split, t.kind, t.max_length or 2048, t.pack,
                          t.assistant_only, t.chat_template, t.shard_rows or 8192, events=events, workers=t.workers)
    except (OSError, ValueError, KeyError, TypeError) as err:
        # A missing file or a row without the normalised fields: bad input, not a crash.
        raise InvalidInput(f"tokenize: {type(err).__name__}: {err}", field="tokenize.inputs") from err
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m mambalign_runtime tokenize")
    parser.add_argument("--input", required=True, action="append",
                        help="normalised JSONL of one split, as PATH or SPLIT=PATH (repeat for several splits)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer.json or its directory")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--split", default="train")
    parser.add_argument("--kind", default="sft", choices=["sft", "preference"])
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--pack", action="store_true", help="pack SFT documents into fixed-length rows")
    parser.add_argument("--assistant-only", action="store_true", help="loss mask on assistant turns only")
    parser.add_argument("--chat-template-file", default="", help="Jinja chat template file")
    parser.add_argument("--shard-rows", type=int, default=8192, help="documents per shard")
    parser.add_argument("--workers", type=int, default=0, help="processes that render and tokenise (0 = one per core)")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    events = EventWriter()
    try:
        template = Path(ns.chat_template_file).read_text(encoding="utf-8") if ns.chat_template_file else ""
        for item in ns.input:
            split, _, path = item.partition("=") if "=" in item else (ns.split, "", item)
            tokenize_file(path, ns.tokenizer, ns.out, split, ns.kind, ns.max_length, ns.pack, ns.assistant_only,
                          template, ns.shard_rows, events=events, workers=ns.workers)
    except RuntimeFailure as err:
        log.error("%s", err.message)
        events.error(err.message, err.field, err.retryable)
        return err.exit_code
    except (OSError, ValueError, KeyError, TypeError) as err:
        # A missing file or a row without the normalised fields: bad input, not a crash.
        log.error("%s: %s", type(err).__name__, err)
        events.error(f"tokenize: {type(err).__name__}: {err}", "--input")
        return EXIT_INVALID
    return 0
