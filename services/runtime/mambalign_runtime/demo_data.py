"""The demo task: reverse a short lowercase word (deterministic, no download).

Small enough for the tiny char-level Mamba to learn visibly in minutes on a CPU: each row
is about 16 tokens ("<|user|>reverse kqzt<|assistant|>tzqk<eos>"). Preference rows pair
the correct reversal (chosen) with a plausible mistake (rejected): the word copied
unreversed, two neighbouring letters swapped, or one letter dropped.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

PROMPT = "reverse {}"
SIZES = {"sft_train": 3000, "dpo_train": 1500, "heldout": 200, "heldout_prefs": 300}


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 6)))


def _mistake(rng: random.Random, word: str) -> str:
    answer = word[::-1]
    kinds = ["copy", "swap", "drop"]
    while True:
        kind = rng.choice(kinds)
        if kind == "copy":
            wrong = word
        elif kind == "swap":
            i = rng.randrange(len(answer) - 1)
            wrong = answer[:i] + answer[i + 1] + answer[i] + answer[i + 2:]
        else:
            i = rng.randrange(len(answer))
            wrong = answer[:i] + answer[i + 1:]
        if wrong != answer:
            return wrong


def _conversation(word: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPT.format(word)}, {"role": "assistant", "content": answer}]


def _words(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        w = _word(rng)
        if w not in taken and w != w[::-1]:
            taken.add(w)
            out.append(w)
    return out


def write_demo_data(out_dir: str, seed: int = 0) -> list[Path]:
    """Write sft_train.jsonl, dpo_train.jsonl, heldout.jsonl, heldout_prefs.jsonl; held-out words never
    appear in training files."""
    rng = random.Random(seed)
    taken: set[str] = set()
    words = {name: _words(rng, n, taken) for name, n in SIZES.items()}
    rows = {
        "sft_train": [{"messages": _conversation(w, w[::-1])} for w in words["sft_train"]],
        "heldout": [{"id": f"heldout-{i}", "messages": _conversation(w, w[::-1])}
                    for i, w in enumerate(words["heldout"])],
    }
    for name in ("dpo_train", "heldout_prefs"):
        rows[name] = [
            {"prompt": [{"role": "user", "content": PROMPT.format(w)}],
             "chosen": [{"role": "assistant", "content": w[::-1]}],
             "rejected": [{"role": "assistant", "content": _mistake(rng, w)}]}
            for w in words[name]
        ]
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, items in rows.items():
        path = directory / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in items))
        paths.append(path)
    return paths
