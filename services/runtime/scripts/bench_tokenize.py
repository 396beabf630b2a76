"""Tokenisation throughput: our `tokenize` path next to `datasets.map` + the Rust tokenizer, in one run.

    python scripts/bench_tokenize.py [--data ../evaluator/benchmarks] [--tokenizer ../../test/data/tokenizer/gpt-neox-20b/tokenizer.json] [--rows 20000] [--max-length 2048]

Rows are SFT conversations made from the MT-Bench and AlpacaEval texts the evaluator ships (question ->
reference answer), repeated to --rows. Both sides render the same chat template and tokenise
with the same tokenizer.json; the script checks that they produce the same ids, then prints
rows/s for each. `datasets` is needed only here (pip install datasets), not by the runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mambalign_runtime.tokenize import load_tokenizer, tokenize_file  # noqa: E402


def conversations(data: Path) -> list[dict]:
    pairs = []
    for f in sorted((data / "alpaca_eval").glob("*.json")):
        pairs += [(r["instruction"], r["output"]) for r in json.loads(f.read_text())]
    answers = {}
    for line in (data / "mt_bench" / "reference_answer_gpt-4.jsonl").read_text().splitlines():
        a = json.loads(line)
        answers[a["question_id"]] = a["choices"][0]["turns"]
    for line in (data / "mt_bench" / "question.jsonl").read_text().splitlines():
        q = json.loads(line)
        ref = answers.get(q["question_id"], ["(no reference)", "(no reference)"])
        pairs += list(zip(q["turns"], ref))
    return [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in pairs]


def main() -> int:
    p = argparse.ArgumentParser()
    repo = HERE.parents[2]
    p.add_argument("--data", default=str(repo / "services" / "evaluator" / "benchmarks"), help="mt_bench/ and alpaca_eval/")
    p.add_argument("--tokenizer", default=str(repo / "test" / "data" / "tokenizer" / "gpt-neox-20b" / "tokenizer.json"))
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--num-proc", type=int, default=os.cpu_count() or 1, help="datasets.map processes")
    ns = p.parse_args()
    data = Path(ns.data)
    tok_path = ns.tokenizer
    base = conversations(data)
    rows = (base * (ns.rows // len(base) + 1))[: ns.rows]
    tmp = Path(tempfile.mkdtemp(prefix="bench-tokenize-"))
    src = tmp / "train.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))

    t0 = time.perf_counter()
    stats = tokenize_file(str(src), tok_path, str(tmp / "ours"), max_length=ns.max_length, pack=True)
    ours_s = time.perf_counter() - t0

    import datasets
    from transformers import PreTrainedTokenizerFast

    # The usual Hugging Face path: a fast tokenizer's apply_chat_template, then its batch call.
    tok = PreTrainedTokenizerFast(tokenizer_file=tok_path, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.chat_template = load_tokenizer(tok_path).chat_template
    ds = datasets.Dataset.from_list(rows)

    def render_and_tokenize(batch):
        texts = [tok.apply_chat_template(m, tokenize=False) for m in batch["messages"]]
        return tok(texts, add_special_tokens=False, truncation=True, max_length=ns.max_length)

    datasets.disable_caching()
    t0 = time.perf_counter()
    mapped = ds.map(render_and_tokenize, batched=True, batch_size=1000, num_proc=ns.num_proc,
                    remove_columns=["messages"])
    hf_s = time.perf_counter() - t0
    hf_tokens = sum(len(x) for x in mapped["input_ids"])
    if hf_tokens != stats["tokens"]:
        print(f"MISMATCH: datasets.map made {hf_tokens} tokens, ours {stats['tokens']}", file=sys.stderr)
        return 1
    print(f"rows={ns.rows} tokens={stats['tokens']} cores={os.cpu_count()} datasets={datasets.__version__}")
    print(f"{'mambalign tokenize (render + tokenize + pack + shards)':58s} {ns.rows / ours_s:10.0f} rows/s")
    print(f"{f'datasets.map + Rust tokenizer (num_proc={ns.num_proc})':58s} {ns.rows / hf_s:10.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
