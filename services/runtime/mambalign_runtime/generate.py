"""Generate: prompts JSONL -> outputs JSONL, batched with left padding.

Left padding is exact for Mamba: padded positions carry a zero input, so the convolution
and the scan state stay at zero until the first real token (transformers masks them by
attention mask), and the decoded tokens match an unpadded run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .data import ChatEncoder, parse_messages, read_jsonl
from .decoding import GraphedDecoder, graphed_decoding_available
from .errors import InvalidInput
from .events import EventWriter
from .inference import open_model
from .spec import RuntimeSpec
from .training import versions


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
    # Batches share one temperature; within it, similar lengths batch together so prefill pads little.
    # Outputs are written in the input order at the end.
    order = sorted(range(len(prompts)), key=lambda i: (prompts[i][2], len(prompts[i][1])))
    batches = []
    for p in (prompts[i] for i in order):
        if batches and len(batches[-1]) < batch_size and batches[-1][0][2] == p[2]:
            batches[-1].append(p)
        else:
            batches.append([p])
    total = len(batches)
    events.started("generate", total, 0, str(device), versions(mode))
    torch.manual_seed(g.seed)
    # CUDA + fast kernels: replay one captured decode step per token (see decoding.py).
    graphed = graphed_decoding_available(model, device, mode) and not g.eager
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    Path(output_file).parent.mkdir(parents=True, exist_ok=True)
    generated_tokens = 0
    results: dict[str, dict] = {}
    with torch.no_grad():
        for b, chunk in enumerate(batches):
            temperature = chunk[0][2]
            width = max(len(ids) for _, ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, (_, ids, _) in enumerate(chunk):
                input_ids[i, width - len(ids):] = torch.tensor(ids)
                attention[i, width - len(ids):] = 1
            if graphed:
                decoder = GraphedDecoder(model, input_ids.to(device), attention.to(device), temperature)
                new_tokens = decoder.generate(max_new, eos)
                del decoder  # frees the captured graph's memory before the next batch
            else:
                sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} \
                    if temperature > 0 else {"do_sample": False}
                result = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                                        max_new_tokens=max_new, eos_token_id=eos, pad_token_id=pad, **sampling)
                new_tokens = result[:, width:]
            for (row_id, _, _), row in zip(chunk, new_tokens.tolist()):
                n = row.index(eos) if eos in row else len(row)  # tokens before EOS
                generated_tokens += n
                text = tokenizer.decode(row[:n], skip_special_tokens=True)
                results[row_id] = {"id": row_id, "output": text, "tokens": n}
            elapsed = time.time() - started
            events.progress(b + 1, total, tokens_per_s=generated_tokens / max(elapsed, 1e-9),
                            eta_s=elapsed / (b + 1) * (total - b - 1))
    with open(output_file, "w", encoding="utf-8") as out:
        for row_id, _, _ in prompts:
            out.write(json.dumps(results[row_id]) + "\n")
    events.artifact("generations", output_file)
    events.finished("completed", total, time.time() - started)
    return 0
