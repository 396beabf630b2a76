"""spec — proto3-JSON RuntimeSpec parsing: defaults, both key spellings, errors naming the field."""

import pytest

from mambalign_runtime.errors import InvalidInput
from mambalign_runtime.spec import parse_spec, to_json
from mambalign_runtime.train_args import resolve_train_args

import json

from conftest import of_kind, run_inprocess, spawn, write_spec


def field_of(data) -> str:
    with pytest.raises(InvalidInput) as err:
        spec = parse_spec(data)
        resolve_train_args(spec)
    return err.value.field


def test_camel_and_snake_keys_and_defaults():
    spec = parse_spec({"command": "sft", "outputDir": "/o", "train": {"train_file": "t.jsonl", "args": {
        "learningRate": "0.5", "maxSteps": -1, "lora": {"enabled": True, "targetModules": ["in_proj"]}}}})
    assert spec.output_dir == "/o" and spec.train.train_file == "t.jsonl"
    args = resolve_train_args(spec)
    assert args.learning_rate == 0.5 and args.max_steps == -1
    assert args.batch_size == 8 and args.lora.r == 16 and args.lora.alpha == 16.0 and args.seed == 42
    assert args.dpo_loss_type == "sigmoid" and args.lr_scheduler_type == "linear"
    assert to_json(spec)["train"]["args"]["lora"] == {"enabled": True, "targetModules": ["in_proj"]}


@pytest.mark.parametrize("data,field", [
    ({"comand": "sft"}, "comand"),
    ({"command": "train"}, "command"),
    ({"train": {"args": {"learningRate": "fast"}}}, "train.args.learningRate"),
    ({"train": {"args": {"lora": {"r": -3}}}}, "train.args.lora.r"),
    ({"train": {"args": {"lora": {"targetModules": "in_proj"}}}}, "train.args.lora.targetModules"),
    ({"train": {"args": {"lora": {"bogus": 1}}}}, "train.args.lora.bogus"),
    ({"train": {"dpo": {"lossType": "kto"}}}, "train.dpo.lossType"),
    ({"train": {"args": {"lrSchedulerType": "exp"}}}, "train.args.lrSchedulerType"),
    ({"train": {"args": {"warmupRatio": 2}}}, "train.args.warmupRatio"),
    ({"train": {"args": {"perDeviceTrainBatchSize": 3, "globalBatchSize": 10}}}, "train.args.globalBatchSize"),
    ({"train": {"args": {"torchDtype": "fp8"}}}, "train.args.torchDtype"),
    ({"generate": {"maxNewTokens": 1.5}}, "generate.maxNewTokens"),
])
def test_errors_name_the_field(data, field):
    assert field_of(data) == field


def test_unknown_loss_type_lists_valid_ones():
    with pytest.raises(InvalidInput, match="sigmoid, ipo, hinge"):
        resolve_train_args(parse_spec({"train": {"dpo": {"lossType": "kto"}}}))


def test_cli_exits_2_with_error_event_naming_the_field(tmp_path):
    spec = write_spec(tmp_path / "s.json", {"model": "preset:tiny-mamba-char", "outputDir": str(tmp_path),
                                            "train": {"trainFile": str(tmp_path / "missing.jsonl")}})
    code, events = run_inprocess(["sft", "--spec", str(spec)])
    assert code == 2
    (error,) = of_kind(events, "error")
    assert error["field"] == "train.trainFile" and error["retryable"] is False


def test_cli_bad_row_names_file_and_row(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
                    '{"messages": [{"role": "user"}]}\n')
    spec = write_spec(tmp_path / "s.json", {"model": "preset:tiny-mamba-char", "outputDir": str(tmp_path / "o"),
                                            "train": {"trainFile": str(data)}})
    code, events = run_inprocess(["sft", "--spec", str(spec)])
    assert code == 2
    assert of_kind(events, "error")[0]["field"] == f"{data}:2"


def test_unknown_preset_and_conv1d_target_are_rejected(tmp_path, demo_dir):
    spec = write_spec(tmp_path / "s.json", {"model": "preset:huge", "outputDir": str(tmp_path)})
    code, events = run_inprocess(["generate", "--spec", str(spec)])
    assert code == 2 and of_kind(events, "error")[0]["field"] == "model"
    spec = write_spec(tmp_path / "s2.json", {
        "model": "preset:tiny-mamba-char", "outputDir": str(tmp_path),
        "train": {"trainFile": str(demo_dir / "sft_train.jsonl"),
                  "args": {"lora": {"enabled": True, "targetModules": ["in_proj", "conv1d"]}}}})
    code, events = run_inprocess(["sft", "--spec", str(spec)])
    assert code == 2 and of_kind(events, "error")[0]["field"] == "train.args.lora.targetModules[1]"


def test_hub_model_offline_fails_naming_the_model(tmp_path, demo_dir):
    spec = write_spec(tmp_path / "s.json", {"model": "state-spaces/mamba-130m-hf@main", "outputDir": str(tmp_path),
                                            "generate": {"promptsFile": str(demo_dir / "heldout.jsonl")}})
    proc = spawn(["generate", "--spec", str(spec)], HF_HUB_OFFLINE="1")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    (error,) = of_kind([json.loads(line) for line in out.splitlines()], "error")
    assert error["field"] == "model" and "state-spaces/mamba-130m-hf" in error["message"]
    assert "local directory" in error["message"]  # says how to supply the model without the Hub
