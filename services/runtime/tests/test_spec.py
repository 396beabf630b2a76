"""spec — proto3-JSON RuntimeSpec parsing: both key spellings, no defaults filled in, errors naming the field."""

import pytest

from mambalign_runtime.errors import InvalidInput
from mambalign_runtime.spec import parse_spec, to_json
from mambalign_runtime.train_args import validate_train_args

import json

from conftest import dpo_args, of_kind, run_inprocess, spawn, train_args, write_spec


def field_of(data, command: str = "sft") -> str:
    with pytest.raises(InvalidInput) as err:
        spec = parse_spec(data)
        spec.command = command
        validate_train_args(spec)
    return err.value.field


def with_args(command: str = "sft", dpo: dict | None = None, **args) -> dict:
    """A spec whose training arguments are the recipe's resolved ones, with `args` on top."""
    train = {"args": train_args(command, **args)}
    if command == "dpo":
        train["dpo"] = dpo_args(**(dpo or {}))
    return {"train": train}


def test_camel_and_snake_keys_are_read_as_given():
    args = train_args(learningRate="0.5", maxSteps=-1, lora={"enabled": True, "r": 4, "alpha": 8,
                                                             "targetModules": ["in_proj"]})
    args["max_grad_norm"] = args.pop("maxGradNorm")
    spec = parse_spec({"command": "sft", "outputDir": "/o", "train": {"train_file": "t.jsonl", "args": args}})
    assert spec.output_dir == "/o" and spec.train.train_file == "t.jsonl"
    resolved = validate_train_args(spec)
    assert resolved.learning_rate == 0.5 and resolved.max_steps == -1 and resolved.max_grad_norm == 1.0
    assert resolved.batch_size == 8 and resolved.lora.r == 4 and resolved.lora.alpha == 8.0
    assert to_json(spec)["train"]["args"]["lora"] == {"enabled": True, "r": 4, "alpha": 8.0, "targetModules": ["in_proj"]}


def test_zero_values_the_recipe_allows_are_kept_not_replaced():
    """seed 0, adamBeta1 0 and maxGradNorm 0 (no clipping) used to become 42, 0.9 and 1.0 here."""
    resolved = validate_train_args(parse_spec(with_args(seed=0, adamBeta1=0, maxGradNorm=0, warmupRatio=0)))
    assert (resolved.seed, resolved.adam_betas[0], resolved.max_grad_norm) == (0, 0.0, 0.0)


@pytest.mark.parametrize("missing,field", [
    ("learningRate", "train.args.learningRate"),
    ("lrSchedulerType", "train.args.lrSchedulerType"),
    ("maxSteps", "train.args.maxSteps"),
    ("perDeviceTrainBatchSize", "train.args.perDeviceTrainBatchSize"),
    ("gradientAccumulationSteps", "train.args.gradientAccumulationSteps"),
    ("maxSeqLength", "train.args.maxSeqLength"),
    ("optim", "train.args.optim"),
    ("torchDtype", "train.args.torchDtype"),
    ("saveSteps", "train.args.saveSteps"),
    ("loggingSteps", "train.args.loggingSteps"),
])
def test_a_spec_missing_a_required_training_value_is_an_error_naming_it(missing, field):
    data = with_args()
    del data["train"]["args"][missing]
    assert field_of(data) == field


def test_dpo_without_learning_rate_is_refused_not_given_the_sft_rate():
    """The recipe resolves DPO's rate (5e-7 full, 5e-6 LoRA); the runtime used to fill in 2e-5 / 2e-4."""
    data = with_args("dpo", lora={"enabled": True, "r": 16, "alpha": 16})
    del data["train"]["args"]["learningRate"]
    assert field_of(data, "dpo") == "train.args.learningRate"


@pytest.mark.parametrize("missing", ["beta", "lossType", "maxLength", "maxPromptLength"])
def test_a_dpo_spec_missing_a_dpo_value_names_it(missing):
    data = with_args("dpo")
    del data["train"]["dpo"][missing]
    assert field_of(data, "dpo") == f"train.dpo.{missing}"


def test_lora_without_rank_or_alpha_names_it():
    assert field_of(with_args(lora={"enabled": True, "alpha": 8})) == "train.args.lora.r"
    assert field_of(with_args(lora={"enabled": True, "r": 8})) == "train.args.lora.alpha"


@pytest.mark.parametrize("data,field", [
    ({"comand": "sft"}, "comand"),
    ({"command": "train"}, "command"),
    (with_args(learningRate="fast"), "train.args.learningRate"),
    (with_args(lora={"r": -3}), "train.args.lora.r"),
    (with_args(lora={"targetModules": "in_proj"}), "train.args.lora.targetModules"),
    (with_args(lora={"bogus": 1}), "train.args.lora.bogus"),
    (with_args(lrSchedulerType="exp"), "train.args.lrSchedulerType"),
    (with_args(warmupRatio=2), "train.args.warmupRatio"),
    (with_args(saveEveryMinutes=-1), "train.args.saveEveryMinutes"),
    (with_args(perDeviceTrainBatchSize=3, globalBatchSize=10), "train.args.globalBatchSize"),
    (with_args(torchDtype="fp8"), "train.args.torchDtype"),
    ({"generate": {"maxNewTokens": 1.5}}, "generate.maxNewTokens"),
])
def test_errors_name_the_field(data, field):
    assert field_of(data) == field


def test_unknown_loss_type_lists_valid_ones():
    with pytest.raises(InvalidInput, match="sigmoid, ipo, hinge"):
        spec = parse_spec(with_args("dpo", dpo={"lossType": "kto"}))
        spec.command = "dpo"
        validate_train_args(spec)


def test_cli_exits_2_with_error_event_naming_the_field(tmp_path):
    spec = write_spec(tmp_path / "s.json", {"model": "preset:tiny-mamba-char", "outputDir": str(tmp_path),
                                            "train": {"trainFile": str(tmp_path / "missing.jsonl"),
                                                      "args": train_args()}})
    code, events = run_inprocess(["sft", "--spec", str(spec)])
    assert code == 2
    (error,) = of_kind(events, "error")
    assert error["field"] == "train.trainFile" and error["retryable"] is False


def test_cli_bad_row_names_file_and_row(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
                    '{"messages": [{"role": "user"}]}\n')
    spec = write_spec(tmp_path / "s.json", {"model": "preset:tiny-mamba-char", "outputDir": str(tmp_path / "o"),
                                            "train": {"trainFile": str(data), "args": train_args()}})
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
                  "args": train_args(lora={"enabled": True, "r": 4, "alpha": 8,
                                           "targetModules": ["in_proj", "conv1d"]})}})
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
