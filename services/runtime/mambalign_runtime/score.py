"""Score: held-out preference accuracy and assistant-token perplexity, as eval/ metrics."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from .data import ChatEncoder, collate
from .dpo import encode_pairs, pair_logps
from .errors import InvalidInput
from .events import EventWriter
from .inference import open_model
from .sft import encode_sft_file, sum_nll
from .spec import RuntimeSpec
from .training import versions


def run_score(spec: RuntimeSpec, events: EventWriter) -> int:
    started = time.time()
    sc = spec.score
    if not sc.prefs_file and not sc.sft_file:
        raise InvalidInput("score: set score.prefsFile and/or score.sftFile", field="score.prefsFile")
    output_file = sc.output_file or (str(Path(spec.output_dir) / "scores.json") if spec.output_dir else "")
    if not output_file:
        raise InvalidInput("score.outputFile: required (or outputDir)", field="score.outputFile")
    model, tokenizer, device, mode = open_model(spec, chat_template=sc.chat_template)
    max_length = sc.max_length or min(getattr(tokenizer, "model_max_length", 2048) or 2048, 2048)
    encoder = ChatEncoder(tokenizer, max_length, "score.chatTemplate")
    batch_size = sc.batch_size or 8
    pad = tokenizer.pad_token_id
    events.started("score", int(bool(sc.prefs_file)) + int(bool(sc.sft_file)), 0, str(device), versions(mode))
    values: dict[str, float] = {}
    with torch.no_grad():
        if sc.prefs_file:
            pairs = encode_pairs(encoder, sc.prefs_file, "score.prefsFile", max(1, max_length // 2))
            chosen, rejected = [], []
            for i in range(0, len(pairs), batch_size):
                c, r = pair_logps(model, pairs[i:i + batch_size], pad, device)
                chosen.append(c.float().cpu())
                rejected.append(r.float().cpu())
            chosen, rejected = torch.cat(chosen), torch.cat(rejected)
            values["eval/preference_accuracy"] = float((chosen > rejected).float().mean())
            values["eval/logps/chosen"] = float(chosen.mean())
            values["eval/logps/rejected"] = float(rejected.mean())
            values["eval/preference_pairs"] = float(len(pairs))
        if sc.sft_file:
            rows = encode_sft_file(encoder, sc.sft_file, "score.sftFile", assistant_only=True)
            nll, count = 0.0, 0
            for i in range(0, len(rows), batch_size):
                batch = {k: v.to(device) for k, v in collate(rows[i:i + batch_size], pad).items()}
                s, n = sum_nll(model, batch)
                nll, count = nll + float(s), count + n
            values["eval/perplexity"] = math.exp(nll / max(count, 1))
            values["eval/perplexity_tokens"] = float(count)
    Path(output_file).parent.mkdir(parents=True, exist_ok=True)
    Path(output_file).write_text(json.dumps(values, indent=2) + "\n")
    events.metrics("score", 0, values)
    events.artifact("scores", output_file)
    events.finished("completed", 1, time.time() - started)
    return 0
