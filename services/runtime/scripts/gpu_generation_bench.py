"""Generation benchmark for issue 5: AlpacaEval (805) + MT-Bench (80 x 2 turns) on the 2.8B shape.

Runs everything through `python -m mambalign_runtime generate --spec ...`, the entry the evaluator
uses, on a randomly initialised model of state-spaces/mamba-2.8b-hf's shape saved to a local
directory (no download). Random weights never emit EOS, so every answer runs to its cap: the
numbers are a worst case for wall time.

Usage (device): python scripts/gpu_generation_bench.py --data DIR --tokenizer DIR --out DIR
  DIR of --data holds mt_bench/question.jsonl and alpaca_eval/reference_text_davinci_003.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# FastChat's per-category temperatures (the evaluator's judging library holds the same table).
MT_BENCH_TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                        "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}
ZEPHYR_TEMPLATE = ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
                   "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + "
                   "message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  "
                   "+ message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n"
                   "{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}")


def build_model(tokenizer_dir: str, out: Path) -> None:
    import torch
    from transformers import MambaConfig, MambaForCausalLM, PreTrainedTokenizerFast

    config = MambaConfig(vocab_size=50280, hidden_size=2560, state_size=16, num_hidden_layers=64,
                         expand=2, conv_kernel=4, time_step_rank=160, use_bias=False, use_conv_bias=True,
                         bos_token_id=0, eos_token_id=0, pad_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = MambaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(Path(tokenizer_dir) / "tokenizer.json"),
                                  bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.chat_template = ZEPHYR_TEMPLATE
    tok.model_max_length = 4096
    tok.save_pretrained(out)
    del model
    torch.cuda.empty_cache()


def generate(model: Path, prompts: Path, out: Path, max_new: int, batch: int, eager: bool = False) -> dict:
    spec = {"command": "generate", "model": str(model), "outputDir": str(out.parent), "kernels": "auto",
            "generate": {"promptsFile": str(prompts), "outputFile": str(out), "maxNewTokens": max_new,
                         "batchSize": batch, "seed": 1, "eager": eager}}
    spec_path = out.with_suffix(".spec.json")
    spec_path.write_text(json.dumps(spec))
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "mambalign_runtime", "generate", "--spec", str(spec_path)],
                          capture_output=True, text=True)
    wall = time.time() - started
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"generate failed for {prompts.name}: exit {proc.returncode}")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    started_ev = next(e["started"] for e in events if "started" in e)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    tokens = sum(r["tokens"] for r in rows)
    return {"prompts": prompts.name, "rows": len(rows), "new_tokens": tokens, "wall_s": round(wall, 1),
            "tokens_per_s": round(tokens / wall, 1), "batch": batch, "max_new_tokens": max_new,
            "kernels": started_ev.get("versions", {}).get("kernels", "?"), "eager": eager}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="rows per set (0 = all), for a smoke run")
    ap.add_argument("--alpaca-only", action="store_true", help="skip the MT-Bench turns")
    args = ap.parse_args()
    import torch

    card = torch.cuda.get_device_name(0)
    work = Path(os.environ.get("BENCH_WORK", "/tmp/genbench"))
    work.mkdir(parents=True, exist_ok=True)
    model = work / "mamba-2.8b-random"
    t0 = time.time()
    build_model(args.tokenizer, model)
    print(json.dumps({"bench": "build_model", "card": card, "wall_s": round(time.time() - t0, 1)}), flush=True)

    data = Path(args.data)
    questions = [json.loads(line) for line in (data / "mt_bench/question.jsonl").read_text().splitlines()]
    alpaca = json.loads((data / "alpaca_eval/reference_text_davinci_003.json").read_text())
    if args.limit:
        questions, alpaca = questions[:args.limit], alpaca[:args.limit]
    results = []
    # AlpacaEval: greedy, up to 2,048 new tokens.
    ap_prompts = work / "alpaca.jsonl"
    ap_prompts.write_text("".join(json.dumps({"id": str(i), "messages": [{"role": "user", "content": r["instruction"]}]})
                                  + "\n" for i, r in enumerate(alpaca)))
    results.append(generate(model, ap_prompts, work / "alpaca.out.jsonl", 2048, args.batch))
    print(json.dumps({"bench": "generate", "card": card, **results[-1]}), flush=True)
    if args.alpaca_only:
        return 0
    # MT-Bench turn 1, then turn 2 on the model's own turn-1 answer; per-category temperatures; 1,024 new tokens.
    t1 = work / "mt1.jsonl"
    t1.write_text("".join(json.dumps({"id": str(q["question_id"]), "temperature": MT_BENCH_TEMPERATURE[q["category"]],
                                      "messages": [{"role": "user", "content": q["turns"][0]}]}) + "\n" for q in questions))
    results.append(generate(model, t1, work / "mt1.out.jsonl", 1024, args.batch))
    print(json.dumps({"bench": "generate", "card": card, **results[-1]}), flush=True)
    answers = {json.loads(l)["id"]: json.loads(l)["output"] for l in (work / "mt1.out.jsonl").read_text().splitlines()}
    t2 = work / "mt2.jsonl"
    t2.write_text("".join(json.dumps({"id": str(q["question_id"]), "temperature": MT_BENCH_TEMPERATURE[q["category"]],
                                      "messages": [{"role": "user", "content": q["turns"][0]},
                                                   {"role": "assistant", "content": answers[str(q["question_id"])]},
                                                   {"role": "user", "content": q["turns"][1]}]}) + "\n" for q in questions))
    results.append(generate(model, t2, work / "mt2.out.jsonl", 1024, args.batch))
    print(json.dumps({"bench": "generate", "card": card, **results[-1]}), flush=True)
    total_wall = sum(r["wall_s"] for r in results)
    total_tokens = sum(r["new_tokens"] for r in results)
    print(json.dumps({"bench": "generation_total", "card": card, "generations": sum(r["rows"] for r in results),
                      "new_tokens": total_tokens, "wall_s": round(total_wall, 1),
                      "tokens_per_s": round(total_tokens / total_wall, 1),
                      "alpaca_eval_wall_s": results[0]["wall_s"]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
