"""merge — the merged model computes the same logits as base + adapter."""

import torch
from transformers import AutoModelForCausalLM

from mambalign_runtime.modeling import add_lora, load_adapter, lora_config

from conftest import of_kind, run_inprocess, tiny_mamba, write_spec


def test_merged_model_equals_base_plus_adapter(tmp_path, model_dir):
    model, tokenizer = tiny_mamba()  # the same weights as model_dir
    targets = ["in_proj", "x_proj", "dt_proj", "out_proj", "embeddings"]
    peft_model = add_lora(model, lora_config(model, 4, 8, 0.0, targets, [], "lora"), "lora")
    torch.manual_seed(5)
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            torch.nn.init.normal_(p, std=0.2)
    adapter_dir = tmp_path / "adapter"
    peft_model.save_pretrained(adapter_dir)

    spec = write_spec(tmp_path / "merge.json", {"command": "merge", "model": str(model_dir),
                                                "adapter": str(adapter_dir), "outputDir": str(tmp_path / "out")})
    code, events = run_inprocess(["merge", "--spec", str(spec)])
    assert code == 0, events
    merged_dir = tmp_path / "out" / "merged"
    assert of_kind(events, "artifact") == [{"kind": "model", "path": str(merged_dir)}]
    assert (merged_dir / "model.safetensors").is_file() and (merged_dir / "tokenizer.json").is_file()

    ids = torch.tensor([tokenizer.encode("<|user|>reverse hello<|assistant|>olleh")])
    base, _ = tiny_mamba()
    reference = load_adapter(base, str(adapter_dir), "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    with torch.no_grad():
        expected = reference(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        plain = tiny_mamba()[0].eval()(input_ids=ids).logits
    assert (expected - plain).abs().max() > 1e-2  # the adapter matters
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
