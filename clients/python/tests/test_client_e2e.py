"""The Python client end to end against the embedded control plane: start a short SFT run of the
tiny demo model from a recipe file, watch its events until it ends, download the adapter it
registered and check it is a PEFT adapter directory."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from mambalign.v1 import common_pb2, events_pb2, pipeline_pb2, registry_pb2
from mambalign_client import Client

ROW = {"messages": [{"role": "user", "content": "abc"}, {"role": "assistant", "content": "cba"}]}
STEPS = 3
WATCH_TIMEOUT_S = 300


@pytest.fixture
def client(control_plane):
    token = Path(control_plane["tokenFile"]).read_text().strip()
    with Client(control_plane["addr"], token=token) as c:
        yield c


def test_start_watch_and_download_an_adapter(client, tmp_path, control_plane):
    # Under the state directory: the control plane reads local data only there and in its cwd.
    data = Path(control_plane["stateDir"]) / "sft.jsonl"
    data.write_text("".join(json.dumps(ROW) + "\n" for _ in range(16)))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "name: py-client\n"
        "model_name_or_path: preset:tiny-mamba-char\n"
        "stages: [sft]\n"
        f"datasets: {{ chat: {data} }}\n"
        "torch_dtype: float32\n"
        "use_peft: true\n"
        f"sft: {{ dataset_mixer: {{ chat: 1.0 }}, max_steps: {STEPS}, logging_steps: 1, per_device_train_batch_size: 4 }}\n"
    )

    run = client.start_run(recipe)
    assert run.id
    progress_steps, transitions, seqs = [], [], []
    for resp in client.watch(run.id, timeout=WATCH_TIMEOUT_S):  # a stuck run fails the test, not hangs it
        seqs.append(resp.seq)
        ev = resp.event
        if ev.WhichOneof("kind") == "runtime" and ev.runtime.WhichOneof("kind") == "progress":
            progress_steps.append(ev.runtime.progress.step)
        if ev.WhichOneof("kind") == "transition":
            transitions.append((ev.stage, ev.transition.status))

    final = client.get_run(run.id)
    assert final.status == pipeline_pb2.RUN_STATUS_SUCCEEDED, final.message
    # Waiting on a finished run replays its history and returns at once.
    assert client.wait(run.id, timeout=60).status == pipeline_pb2.RUN_STATUS_SUCCEEDED
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "events come once each, in order"
    assert progress_steps and progress_steps[-1] == STEPS, progress_steps
    assert (common_pb2.STAGE_SFT, events_pb2.STAGE_STATUS_SUCCEEDED) in transitions

    [sft] = [s for s in final.stages if s.stage == common_pb2.STAGE_SFT]
    version = client.registry.GetVersion(registry_pb2.GetVersionRequest(id=sft.output)).version
    assert version.kind == registry_pb2.ARTIFACT_KIND_ADAPTER
    files = client.download_version(sft.output, tmp_path / "adapter")
    names = sorted(p.name for p in files)
    assert "adapter_config.json" in names and "adapter_model.safetensors" in names, names
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["peft_type"] == "LORA"
    # The files and sizes the registry's manifest lists.
    got = {p.relative_to(tmp_path / "adapter").as_posix(): p.stat().st_size for p in files}
    assert got == {m.path: m.size for m in version.manifest}


def test_unknown_run_is_not_found_naming_it(client):
    with pytest.raises(grpc.RpcError) as err:
        client.get_run("no-such-run")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-run" in err.value.details()


def test_a_call_without_the_token_is_unauthenticated_and_the_local_token_file_is_private(control_plane, monkeypatch, tmp_path):
    token_file = Path(control_plane["tokenFile"])
    assert token_file.stat().st_mode & 0o777 == 0o600
    monkeypatch.delenv("MAMBALIGN_TOKEN", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no local token there
    with Client(control_plane["addr"]) as anonymous, pytest.raises(grpc.RpcError) as err:
        anonymous.get_run("no-such-run")
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The default token is the local one `mambalign up` wrote in the config directory.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(token_file.parent.parent))
    with Client(control_plane["addr"]) as c, pytest.raises(grpc.RpcError) as err:
        c.get_run("no-such-run")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
