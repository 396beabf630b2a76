"""spec and events against the proto — spec.py's dataclasses and EventWriter's lines agree with
proto/mambalign/v1/runtime.proto and events.proto (read by protoc into descriptors): every field
by its proto3 JSON name, its type and, for integers, its signedness; every event line parses as a
RuntimeEvent with unknown keys refused."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
from typing import get_args, get_origin, get_type_hints

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor as F

from mambalign_runtime import spec as spec_module
from mambalign_runtime.events import EventWriter

from conftest import REPO_ROOT

PROTOC = REPO_ROOT / "node_modules" / ".bin" / "protoc"
SCALARS = {
    str: {F.TYPE_STRING},
    bool: {F.TYPE_BOOL},
    float: {F.TYPE_DOUBLE, F.TYPE_FLOAT},
    int: {F.TYPE_INT32, F.TYPE_UINT32, F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_SINT32},
}
SIGNED = {F.TYPE_INT32, F.TYPE_INT64, F.TYPE_SINT32}


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> descriptor_pool.DescriptorPool:
    """The protos as protoc reads them (the npm `protoc` the TypeScript build generates with)."""
    if not PROTOC.exists():
        pytest.fail(f"{PROTOC} is missing: run `npm ci` (scripts/setup.sh) first")
    out = tmp_path_factory.mktemp("proto") / "set.pb"
    subprocess.run([str(PROTOC), "-I", str(REPO_ROOT / "proto"), "-I", str(REPO_ROOT / "node_modules/protoc/include"),
                    "--include_imports", f"--descriptor_set_out={out}", "mambalign/v1/runtime.proto",
                    "mambalign/v1/events.proto"], check=True, cwd=REPO_ROOT)
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    result = descriptor_pool.DescriptorPool()
    for file in files.file:
        result.Add(file)
    return result


def mismatches(cls: type, message, path: str) -> list[str]:
    """How the dataclass `cls` differs from the message descriptor, recursively."""
    problems = []
    hints = get_type_hints(cls)
    ours = {spec_module.camel(f.name): f.name for f in dataclasses.fields(cls)}
    theirs = {f.json_name: f for f in message.fields}
    for name in sorted(set(ours) - set(theirs)):
        problems.append(f"{path}.{name}: in spec.py, not in the proto")
    for name in sorted(set(theirs) - set(ours)):
        problems.append(f"{path}.{name}: in the proto, not in spec.py")
    for json_name in sorted(set(ours) & set(theirs)):
        field, kind, where = theirs[json_name], hints[ours[json_name]], f"{path}.{json_name}"
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if is_map:
            if get_origin(kind) is not dict:
                problems.append(f"{where}: a map in the proto, {kind} in spec.py")
                continue
            key, value = get_args(kind)
            problems += scalar_mismatch(key, field.message_type.fields_by_name["key"], f"{where}<key>", ours[json_name])
            problems += scalar_mismatch(value, field.message_type.fields_by_name["value"], f"{where}<value>",
                                        ours[json_name])
        elif field.is_repeated:
            if get_origin(kind) is not list:
                problems.append(f"{where}: repeated in the proto, {kind} in spec.py")
                continue
            problems += scalar_mismatch(get_args(kind)[0], field, where, ours[json_name])
        elif field.type == F.TYPE_MESSAGE:
            if not dataclasses.is_dataclass(kind):
                problems.append(f"{where}: message {field.message_type.name} in the proto, {kind} in spec.py")
                continue
            problems += mismatches(kind, field.message_type, where)
        else:
            problems += scalar_mismatch(kind, field, where, ours[json_name])
    return problems


def scalar_mismatch(kind: type, field, where: str, name: str) -> list[str]:
    if field.type not in SCALARS.get(kind, set()):
        return [f"{where}: proto type {field.type} but {kind} in spec.py"]
    # spec.py range-checks integers as uint32 unless listed signed.
    if kind is int and (field.type in SIGNED) != (name in spec_module._SIGNED_INTS):
        return [f"{where}: signedness differs (proto type {field.type})"]
    return []


def test_spec_dataclasses_match_runtime_proto(pool):
    assert mismatches(spec_module.RuntimeSpec, pool.FindMessageTypeByName("mambalign.v1.RuntimeSpec"), "RuntimeSpec") == []


def test_a_field_missing_from_spec_py_is_caught(pool):
    """The check itself: a dataclass lacking one proto field is reported by name."""
    @dataclasses.dataclass
    class Partial:
        dtype: int = 0
        extra: str = ""

    assert mismatches(Partial, pool.FindMessageTypeByName("mambalign.v1.MergeSpec"), "MergeSpec") == [
        "MergeSpec.extra: in spec.py, not in the proto", "MergeSpec.dtype: proto type 9 but <class 'int'> in spec.py"]


def test_a_full_spec_round_trips_through_the_proto(pool):
    """to_json(parse_spec(x)) of a spec using every training field is valid proto3 JSON for RuntimeSpec."""
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("mambalign.v1.RuntimeSpec"))
    data = {"command": "dpo", "model": "m", "outputDir": "/o",
            "train": {"trainFile": "t.jsonl", "args": {
                "datasetMixer": {"a": 1.0}, "datasetSplits": ["train"], "learningRate": 1e-6, "maxSteps": -1,
                "saveEveryMinutes": 2.5, "lora": {"enabled": True, "r": 4, "targetModules": ["in_proj"]}},
                "dpo": {"beta": 0.1, "lossType": "ipo", "rpoAlpha": 1.0}}}
    written = spec_module.to_json(spec_module.parse_spec(data))
    json_format.ParseDict(written, cls())  # raises on an unknown key or a wrong type
    assert written == data


def test_every_event_line_is_a_runtime_event(pool):
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("mambalign.v1.RuntimeEvent"))
    stream = io.StringIO()
    events = EventWriter(stream)
    events.started("sft", 10, 2, "cpu", {"torch": "2.11.0"})
    events.progress(3, 10, loss=1.5, lr=1e-4, tokens_per_s=900.0, grad_norm=0.5, eta_s=12.0, mfu=0.1,
                    gpu_mem_gib=3.0, extra={"rewards/margins": 0.2})
    events.progress(4, 10, loss=float("nan"))
    events.checkpoint_saved(4, "/o/checkpoints/step-4", "time")
    events.metrics("eval", 4, {"eval/loss": 1.2})
    events.artifact("adapter", "/o/adapter")
    events.finished("completed", 10, 3.5)
    events.error("bad", field="train.trainFile", retryable=False)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8
    kinds = set()
    for line in lines:
        message = json_format.Parse(line, cls())  # raises on an unknown key or a wrong type
        kinds.add(message.WhichOneof("kind"))
    # Every member of the oneof has a writer method.
    assert kinds == {f.name for f in cls.DESCRIPTOR.oneofs_by_name["kind"].fields}
