"""Token-for-token parity with Hugging Face on GPT-NeoX-20B over every MT-Bench and AlpacaEval
text the evaluator ships: plain texts against `tokenizers.Tokenizer.encode`, and whole
conversations (rendered with the chat template, then tokenised) against transformers'
`apply_chat_template(..., tokenize=True)` on a fast tokenizer over the same tokenizer.json."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from mambalign_runtime.tokenize import encode_texts, load_tokenizer

from conftest import BENCH_DATA_DIR as SHARED, NEOX_TOKENIZER_DIR

TOKENIZER = NEOX_TOKENIZER_DIR / "tokenizer.json"


def shared_texts() -> list[str]:
    if not TOKENIZER.exists():
        pytest.fail(f"test data missing from the repository: {TOKENIZER}")
    texts: list[str] = []
    mt = SHARED / "mt_bench"
    for line in (mt / "question.jsonl").read_text().splitlines():
        texts += json.loads(line)["turns"]
    for line in (mt / "reference_answer_gpt-4.jsonl").read_text().splitlines():
        for choice in json.loads(line)["choices"]:
            texts += choice["turns"]
    for line in (mt / "judge_prompts.jsonl").read_text().splitlines():
        p = json.loads(line)
        texts += [p["system_prompt"], p["prompt_template"]]
    for f in sorted((SHARED / "alpaca_eval").glob("*.json")):
        for row in json.loads(f.read_text()):
            texts += [row["instruction"], row["output"]]
    for f in sorted((SHARED / "alpaca_eval").glob("*.txt")):
        texts.append(f.read_text())
    return texts


def test_every_shared_text_tokenises_exactly_as_hugging_face_tokenizers():
    texts = shared_texts()
    assert len(texts) > 3000  # 160 MT-Bench turns + references + 2 x 805 x 2 AlpacaEval texts ...
    reference = Tokenizer.from_file(str(TOKENIZER))
    ours = encode_texts(load_tokenizer(str(TOKENIZER)), texts)
    mismatched = [i for i, (text, ids) in enumerate(zip(texts, ours))
                  if ids != reference.encode(text, add_special_tokens=False).ids]
    assert not mismatched, f"{len(mismatched)} texts differ, first: {texts[mismatched[0]][:200]!r}"


def test_chat_rendered_conversations_match_transformers():
    from transformers import PreTrainedTokenizerFast

    texts = shared_texts()
    tok = load_tokenizer(str(TOKENIZER))
    hf = PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER), eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    hf.chat_template = tok.chat_template
    conversations = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": q},
                      {"role": "assistant", "content": a}] for q, a in zip(texts[0::2], texts[1::2])]
    rendered = [tok.render(c) for c in conversations]
    assert rendered[0].startswith("<|system|>\nBe brief.<|endoftext|>\n<|user|>\n")
    assert rendered == [hf.apply_chat_template(c, tokenize=False) for c in conversations]
    expected = [hf.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"] for c in conversations]
    assert encode_texts(tok, rendered) == [list(e) for e in expected]
