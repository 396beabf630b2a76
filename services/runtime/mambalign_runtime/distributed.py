"""Data-parallel training across the processes torchrun starts (one per GPU).

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; without them the run
is a world of one and every helper here is a no-op. Only rank 0 prints events and writes files;
the others take part in every collective at the same steps (the loop's decisions are functions
of the step, and the SIGTERM flag is agreed on with `any_flag`, so no rank waits alone).

When `launch.py` (`--nproc N`) started torchrun it also sets MAMBALIGN_LAUNCH_DIR: each rank
leaves its pid there (so the launcher can forward SIGTERM straight to the workers, past
torchrun's 30 s kill timer) and rank 0 its exit code (so the launcher keeps the contract's
exit codes, which torchrun would fold into 1).

torch is imported inside the functions that need it, so `__main__` can use the world and the
launcher side channel without loading torch (spec errors answer fast).
"""

from __future__ import annotations

import ctypes
import datetime
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger("mambalign_runtime")

LAUNCH_DIR_ENV = "MAMBALIGN_LAUNCH_DIR"


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def env_world() -> World:
    """The world torchrun describes in the environment (a world of one without it)."""
    return World(rank=int(os.environ.get("RANK", "0")), size=int(os.environ.get("WORLD_SIZE", "1")),
                 local_rank=int(os.environ.get("LOCAL_RANK", "0")))


_initialised = False


def init(world: World, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPU (tests)."""
    import torch.distributed as dist

    global _initialised
    if not world.distributed or _initialised:
        return
    _die_with_parent()
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {"backend": backend, "timeout": datetime.timedelta(minutes=30)}
    if device.type == "cuda":
        kwargs["device_id"] = device
    dist.init_process_group(**kwargs)
    _initialised = True
    log.info("rank %d/%d joined the %s process group", world.rank, world.size, backend)


def shutdown() -> None:
    import torch.distributed as dist

    global _initialised
    if _initialised:
        dist.destroy_process_group()
        _initialised = False


def _die_with_parent() -> None:
    # torchrun starts workers in their own sessions; if torchrun is SIGKILLed they would live on
    # holding the GPU. PR_SET_PDEATHSIG (Linux) kills a worker when its parent dies.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def _collective_device(device: torch.device) -> torch.device:
    import torch
    import torch.distributed as dist

    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of a few floats over all ranks (float64, so counts stay exact)."""
    import torch
    import torch.distributed as dist

    if not _initialised:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_collective_device(device))
    dist.all_reduce(t)
    return t.tolist()


def all_max(values: list[float], device: torch.device) -> list[float]:
    import torch
    import torch.distributed as dist

    if not _initialised:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_collective_device(device))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def any_flag(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on any rank (SIGTERM may reach them a step apart)."""
    return all_max([1.0 if flag else 0.0], device)[0] > 0


def sum_tensor(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Sum of a CPU tensor over all ranks (each rank fills its own shard, zeros elsewhere)."""
    import torch.distributed as dist

    if not _initialised:
        return t
    moved = t.to(_collective_device(device))
    dist.all_reduce(moved)
    return moved.cpu()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank."""
    import torch.distributed as dist

    if not _initialised:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank."""
    import torch.distributed as dist

    if not _initialised:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    import torch.distributed as dist

    if _initialised:
        dist.barrier()


def shard(n: int, world: World) -> list[int]:
    """This rank's indices of 0..n-1 (strided), for passes that each rank does a part of."""
    return list(range(world.rank, n, world.size))


# ---- the launcher's side channel ------------------------------------------------------------

def _launch_dir() -> Path | None:
    value = os.environ.get(LAUNCH_DIR_ENV)
    return Path(value) if value else None


def register_pid(world: World) -> None:
    directory = _launch_dir()
    if directory is not None and "RANK" in os.environ:
        (directory / f"rank-{world.rank}.pid").write_text(str(os.getpid()))


def record_exit(world: World, code: int, error: str = "") -> None:
    """The node's first process's exit code, and any rank's error message, for the launcher."""
    directory = _launch_dir()
    if directory is None or "RANK" not in os.environ:
        return
    if error:
        (directory / f"rank-{world.rank}.error.json").write_text(json.dumps({"message": error}))
    if world.local_rank == 0:  # each node's launcher reads its own first process (rank 0 on node 0)
        (directory / "exit-code").write_text(str(code))
