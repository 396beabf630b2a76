"""Demo-task data long enough to fill a 2048-token context with a real tokenizer (GPU runs).

`python scripts/long_demo_data.py --tokenizer DIR --out DIR [--tokens 2048] [--sft-rows 256] [--dpo-rows 128]`

SFT rows are multi-turn "reverse <word>" conversations grown until their rendered length (chat
template of the tokenizer, as the runtime renders it) passes --tokens. DPO rows share such a
history as the prompt (about half the tokens) and end with one request to reverse a list of words:
chosen reverses every word, rejected carries the demo task's mistakes (copy, swap, drop) in some.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mambalign_runtime.demo_data import _mistake, _word  # noqa: E402
from mambalign_runtime.preset import gpt_neox_tokenizer  # noqa: E402


def n_tokens(tokenizer, messages) -> int:
    return len(tokenizer(tokenizer.apply_chat_template(messages, tokenize=False), add_special_tokens=False)["input_ids"])


def history(rng: random.Random, tokenizer, budget: int) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    while True:
        word = _word(rng)
        pair = [{"role": "user", "content": f"reverse {word}"}, {"role": "assistant", "content": word[::-1]}]
        # Measure every 16 exchanges (32 turns): rendering is the slow part.
        turns += pair
        if len(turns) % 32 == 0 and n_tokens(tokenizer, turns) >= budget:
            return turns


def preference(rng: random.Random, tokenizer, budget: int) -> dict:
    prompt = history(rng, tokenizer, budget // 2)
    words = [_word(rng) for _ in range(budget // 10)]
    chosen = " ".join(w[::-1] for w in words)
    rejected = " ".join(_mistake(rng, w) if rng.random() < 0.3 else w[::-1] for w in words)
    ask = {"role": "user", "content": "reverse each word: " + " ".join(words)}
    return {"prompt": prompt + [ask], "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--sft-rows", type=int, default=256)
    parser.add_argument("--dpo-rows", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    ns = parser.parse_args()
    tokenizer = gpt_neox_tokenizer(ns.tokenizer)
    rng = random.Random(ns.seed)
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "sft_train.jsonl").open("w") as f:
        for _ in range(ns.sft_rows):
            f.write(json.dumps({"messages": history(rng, tokenizer, ns.tokens)}) + "\n")
    with (out / "dpo_train.jsonl").open("w") as f:
        for _ in range(ns.dpo_rows):
            f.write(json.dumps(preference(rng, tokenizer, ns.tokens)) + "\n")
    sample = json.loads((out / "dpo_train.jsonl").read_text().splitlines()[0])
    print(f"sft row tokens ~{n_tokens(tokenizer, history(random.Random(1), tokenizer, ns.tokens))}, "
          f"dpo prompt+chosen tokens ~{n_tokens(tokenizer, sample['prompt'] + sample['chosen'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
