"""distributed — DDP through torchrun (`--nproc 2`, gloo on CPU): the same global batch gives the
same losses as one process, and a run preempted under DDP resumes from its checkpoint.

Tolerance: both runs see the same rows in the same micro-batches with the same per-token
normaliser; only the order of float32 additions differs (gradients summed by the all-reduce
instead of accumulated in `.grad`), which moves losses by ~1e-7 (measured 2e-7 on losses of ~4.7).
1e-5 leaves room for that rounding to grow through Adam's updates. Adam is nearly blind to a
gradient scale error, so the gradient norms are compared too (relative 1e-4): a world-size
normalisation bug would change them by a factor of 2.
"""

import json
import signal
import socket

import pytest
import torch

from mambalign_runtime.distributed import World
from mambalign_runtime.errors import InvalidInput
from mambalign_runtime.spec import parse_spec
from mambalign_runtime.train_args import validate_train_args
from mambalign_runtime.training import BatchSchedule

from conftest import of_kind, run_inprocess, sft_spec, spawn, train_args, write_spec

STEPS = 24


def spec_for(model_dir, demo_dir, out):
    # Global batch 8: accumulation 4 on one process, 2 on each of two.
    return sft_spec(str(model_dir), demo_dir, out, maxSteps=STEPS, learningRate=0.01, perDeviceTrainBatchSize=2,
                    globalBatchSize=8, saveSteps=1000, lrSchedulerType="cosine", warmupRatio=0.1,
                    lora={"enabled": True, "r": 4, "alpha": 8})


def read_until(proc, predicate) -> list[dict]:
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if predicate(events[-1]):
            break
    return events


def test_two_processes_match_one_and_resume_after_sigterm(tmp_path, model_dir, demo_dir):
    code, single = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "one.json",
                                                                  spec_for(model_dir, demo_dir, tmp_path / "one")))])
    assert code == 0, single

    out = tmp_path / "ddp"
    spec = write_spec(tmp_path / "ddp.json", spec_for(model_dir, demo_dir, out))
    proc = spawn(["sft", "--spec", str(spec), "--nproc", "2"])
    events = read_until(proc, lambda e: "progress" in e and e["progress"]["step"] >= 3)
    proc.send_signal(signal.SIGTERM)
    events += [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=180) == 75, proc.stderr.read()
    (started,) = of_kind(events, "started")
    assert started["versions"]["world_size"] == "2"
    saved = of_kind(events, "checkpointSaved")[-1]
    stopped_at = saved["step"]
    assert saved["reason"] == "sigterm" and 3 <= stopped_at < STEPS
    assert of_kind(events, "finished")[0]["status"] == "preempted"
    rng = torch.load(out / "checkpoints" / f"step-{stopped_at}" / "rng.pt", weights_only=True)
    assert len(rng["ranks"]) == 2  # every rank's streams are kept

    proc = spawn(["sft", "--spec", str(spec), "--nproc", "2", "--resume", saved["dir"]])
    resumed = [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=180) == 0, proc.stderr.read()
    assert of_kind(resumed, "started")[0]["startStep"] == stopped_at
    assert of_kind(resumed, "finished")[0]["status"] == "completed"
    assert (out / "adapter" / "adapter_model.safetensors").is_file()

    expected = {p["step"]: p for p in of_kind(single, "progress")}
    got = {p["step"]: p for p in of_kind(events, "progress") + of_kind(resumed, "progress")}
    assert sorted(got) == list(range(1, STEPS + 1))
    for step, p in got.items():
        assert abs(p["loss"] - expected[step]["loss"]) <= 1e-5, (step, p["loss"], expected[step]["loss"])
        assert abs(p["gradNorm"] - expected[step]["gradNorm"]) <= 1e-4 * expected[step]["gradNorm"], step
        assert p["lr"] == pytest.approx(expected[step]["lr"], rel=1e-9)


def resolve(world_size: int, **args):
    return validate_train_args(parse_spec({"train": {"args": train_args(**args)}}), world_size=world_size)


def test_global_batch_is_kept_when_the_world_size_changes():
    for world, accumulation in ((1, 8), (2, 4), (4, 2), (8, 1)):
        args = resolve(world, perDeviceTrainBatchSize=4, globalBatchSize=32)
        assert (args.gradient_accumulation_steps, args.global_batch_size) == (accumulation, 32)
    # Without a global batch, accumulation is the spec's and the global batch grows with the world.
    assert resolve(4, perDeviceTrainBatchSize=4, gradientAccumulationSteps=2).global_batch_size == 32


@pytest.mark.parametrize("world,args,words", [
    (3, {"perDeviceTrainBatchSize": 4, "globalBatchSize": 32}, ["perDeviceTrainBatchSize", "world size", "4 × 3"]),
    (2, {"perDeviceTrainBatchSize": 4, "globalBatchSize": 32, "gradientAccumulationSteps": 2},
     ["gradientAccumulationSteps", "4 × 2 × 2", "send gradientAccumulationSteps 0"]),
])
def test_global_batch_that_does_not_divide_names_the_fields(world, args, words):
    with pytest.raises(InvalidInput) as err:
        resolve(world, **args)
    assert err.value.field == "train.args.globalBatchSize"
    for word in words:
        assert word in err.value.message


def test_ranks_share_out_exactly_the_single_process_rows():
    single = BatchSchedule(50, 3, 4, seed=5)
    ranks = [BatchSchedule(50, 3, 2, seed=5, world=World(rank=r, size=2)) for r in range(2)]
    for step in range(10):  # crosses epoch boundaries
        assert ranks[0].step(step) + ranks[1].step(step) == single.step(step) == ranks[1].step_all(step)


def test_nproc_checks_the_global_batch_before_launching(tmp_path, model_dir, demo_dir):
    spec = sft_spec(str(model_dir), demo_dir, tmp_path / "o", perDeviceTrainBatchSize=4, globalBatchSize=12)
    code, events = run_inprocess(["sft", "--spec", str(write_spec(tmp_path / "s.json", spec)), "--nproc", "2"])
    (error,) = of_kind(events, "error")
    assert code == 2 and error["field"] == "train.args.globalBatchSize" and "4 × 2" in error["message"]


def test_nproc_is_refused_for_commands_that_do_not_train(tmp_path):
    spec = write_spec(tmp_path / "s.json", {"model": "preset:tiny-mamba-char", "outputDir": str(tmp_path)})
    code, events = run_inprocess(["generate", "--spec", str(spec), "--nproc", "2"])
    assert code == 2 and of_kind(events, "error")[0]["field"] == "--nproc"


def test_two_nodes_joined_by_the_rendezvous_environment_train_one_model(tmp_path, model_dir, demo_dir):
    """The multi-node path of a JobSet: two launcher processes, each told only its node rank and node 0's
    address through torchrun's PET_* variables (gloo, loopback), train one model: the same losses and the
    same adapter weights as one process; only node 0 writes the output."""
    from safetensors.torch import load_file

    steps = 8

    def spec(name):
        body = spec_for(model_dir, demo_dir, tmp_path / name)
        body["train"]["args"]["maxSteps"] = steps
        return str(write_spec(tmp_path / f"{name}.json", body))

    code, single = run_inprocess(["sft", "--spec", spec("one")])
    assert code == 0, single

    with socket.socket() as s:  # a free port for node 0's rendezvous store
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    procs = []
    for node in (0, 1):
        procs.append(spawn(["sft", "--spec", spec(f"node{node}"), "--nproc", "1"], PET_NNODES="2", PET_NODE_RANK=str(node),
                           PET_MASTER_ADDR="127.0.0.1", PET_MASTER_PORT=port, GLOO_SOCKET_IFNAME="lo"))
    outputs = [p.communicate(timeout=300) for p in procs]
    for node, (p, (out, err)) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, (node, out[-2000:], err[-4000:])
    events = [json.loads(line) for line in outputs[0][0].splitlines()]
    assert outputs[1][0] == ""  # only global rank 0 speaks
    assert of_kind(events, "started")[0]["versions"]["world_size"] == "2"
    assert of_kind(events, "finished")[0]["status"] == "completed"

    expected = {p["step"]: p for p in of_kind(single, "progress")}
    got = {p["step"]: p for p in of_kind(events, "progress")}
    assert sorted(got) == list(range(1, steps + 1))
    for step, p in got.items():
        assert abs(p["loss"] - expected[step]["loss"]) <= 1e-5, (step, p["loss"], expected[step]["loss"])
        assert abs(p["gradNorm"] - expected[step]["gradNorm"]) <= 1e-4 * expected[step]["gradNorm"], step
    one = load_file(tmp_path / "one" / "adapter" / "adapter_model.safetensors")
    two = load_file(tmp_path / "node0" / "adapter" / "adapter_model.safetensors")
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5)
    assert not (tmp_path / "node1" / "adapter").exists()


def test_rendezvous_environment_errors_name_the_variable():
    from mambalign_runtime.launch import Rendezvous, rendezvous_from_env, torchrun_command

    assert rendezvous_from_env({}) == Rendezvous()
    rdzv = rendezvous_from_env({"PET_NNODES": "2", "PET_NODE_RANK": "1", "PET_MASTER_ADDR": "job-0.svc",
                                "PET_MASTER_PORT": "29400"})
    assert torchrun_command(8, ["sft"], rdzv)[3:8] == ["--nnodes=2", "--node_rank=1", "--master_addr=job-0.svc",
                                                     "--master_port=29400", "--nproc_per_node=8"]
    for env, field in (({"PET_NNODES": "two"}, "PET_NNODES"),
                       ({"PET_NNODES": "2", "PET_MASTER_ADDR": "a"}, "PET_NODE_RANK"),
                       ({"PET_NNODES": "2", "PET_NODE_RANK": "2", "PET_MASTER_ADDR": "a"}, "PET_NODE_RANK"),
                       ({"PET_NNODES": "2", "PET_NODE_RANK": "0"}, "PET_MASTER_ADDR")):
        with pytest.raises(InvalidInput) as err:
            rendezvous_from_env(env)
        assert err.value.field == field
