"""Generate: prompts JSONL -> outputs JSONL, with continuous batching (decoding.SlotDecoder).

Prompts prefilled together are left-padded. Left padding is exact for Mamba: padded positions
carry a zero input, so the convolution and the scan state stay at zero until the first real
token (transformers masks them by attention mask), and the decoded tokens match an unpadded run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .data import ChatEncoder, parse_messages, read_jsonl
from .decoding import Prompt, SlotDecoder, graphed_decoding_available
from .errors import InvalidInput
from .events import EventWriter
from .inference import open_model
from .spec import RuntimeSpec
from .training import versions

PROGRESS_EVERY_S = 5.0  # at most one progress event per this many seconds (and one at the end)


def run_generate(spec: RuntimeSpec, events: EventWriter) -> int:
    started = time.time()
    g = spec.generate
    if g.temperature < 0:
        raise InvalidInput("generate.temperature: must not be negative", field="generate.temperature")
    output_file = g.output_file or (str(Path(spec.output_dir) / "generations.jsonl") if spec.output_dir else "")
    if not output_file:
        raise InvalidInput("generate.outputFile: required (or outputDir)", field="generate.outputFile")
    model, tokenizer, device, mode = open_model(spec, chat_template=g.chat_template)
    encoder = ChatEncoder(tokenizer, getattr(tokenizer, "model_max_length", 2048) or 2048, "generate.chatTemplate")
    prompts = []  # (id, token ids, temperature)
    seen: set[str] = set()
    for number, obj in read_jsonl(g.prompts_file, "generate.promptsFile"):
        where = f"{g.prompts_file}:{number}"
        messages = parse_messages(obj.get("messages"), where, "messages")
        # Held-out rows carry their reference answer last; the prompt is what comes before it.
        while messages and messages[-1]["role"] == "assistant":
            messages = messages[:-1]
        if not messages:
            raise InvalidInput(f"{where}: no prompt turns before the assistant answer", field=where)
        # A row may set its own temperature (MT-Bench's per-category settings) over the spec's.
        temperature = obj.get("temperature", g.temperature)
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or temperature < 0:
            raise InvalidInput(f"{where}: temperature must be a non-negative number", field=where)
        row_id = str(obj.get("id", number))
        if row_id in seen:
            raise InvalidInput(f"{where}: duplicate id {row_id!r} (ids must be unique)", field=where)
        seen.add(row_id)
        prompts.append((row_id, encoder.encode_prompt(messages), float(temperature)))
    batch_size = g.batch_size or 8
    max_new = g.max_new_tokens or 256
    total = len(prompts)
    events.started("generate", total, 0, str(device), versions(mode))
    torch.manual_seed(g.seed)
    # CUDA + fast kernels: replay one captured decode step per token (see decoding.py).
    graphed = graphed_decoding_available(model, device, mode) and not g.eager
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    Path(output_file).parent.mkdir(parents=True, exist_ok=True)
    # Continuous batching: `batchSize` slots, each taking the next prompt as soon as its row ends.
    decoder = SlotDecoder(model, batch_size, eos, pad, device, graphed)
    done = {"rows": 0, "tokens": 0, "reported": 0.0}
    results: dict[str, dict] = {}

    def finished(index: int, tokens: list[int]) -> None:
        row_id = prompts[index][0]
        results[row_id] = {"id": row_id, "output": tokenizer.decode(tokens, skip_special_tokens=True),
                           "tokens": len(tokens)}
        done["rows"] += 1
        done["tokens"] += len(tokens)
        elapsed = time.time() - started
        if done["rows"] == total or elapsed - done["reported"] >= PROGRESS_EVERY_S:
            done["reported"] = elapsed
            events.progress(done["rows"], total, tokens_per_s=done["tokens"] / max(elapsed, 1e-9),
                            eta_s=elapsed / done["rows"] * (total - done["rows"]))

    decoder.run([Prompt(ids, temperature, max_new) for _, ids, temperature in prompts], finished)
    with open(output_file, "w", encoding="utf-8") as out:
        for row_id, _, _ in prompts:
            out.write(json.dumps(results[row_id]) + "\n")
    events.artifact("generations", output_file)
    events.finished("completed", total, time.time() - started)
    return 0
