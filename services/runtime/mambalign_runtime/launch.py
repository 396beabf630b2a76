"""`--nproc N`: run sft/dpo data-parallel on N local GPUs through torchrun, keeping the runtime contract.

The command re-launches itself as
`python -m torch.distributed.run --standalone --nproc_per_node N -m mambalign_runtime <args>`.
Across several machines (a JobSet's pods) torchrun's own environment names the rendezvous:
PET_NNODES > 1, PET_NODE_RANK, PET_MASTER_ADDR, PET_MASTER_PORT (as Kubeflow's TrainJob sets them);
then every node runs this same command and torchrun's static rendezvous joins them into one world of
N * PET_NNODES processes (ranks node_rank * N + local rank).
What this wrapper adds over calling torchrun directly:
  - exit codes: torchrun turns any worker failure, 75 (preempted) included, into 1; rank 0
    leaves its real code in MAMBALIGN_LAUNCH_DIR and the wrapper exits with it;
  - SIGTERM: torchrun answers SIGTERM by killing its workers 30 s later, often before a large
    checkpoint is written; the wrapper sends SIGTERM to the workers themselves (their pids are in
    the launch dir), so they get the trainer's whole grace period;
  - errors: a failure on another rank (rank 0 killed by torchrun after it) still ends with an
    `error` event on stdout.
Workers inherit stdout; only rank 0 writes events to it.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .distributed import LAUNCH_DIR_ENV
from .errors import EXIT_ERROR, InvalidInput
from .events import EventWriter

log = logging.getLogger("mambalign_runtime")


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass(frozen=True)
class Rendezvous:
    """Where the nodes of a multi-node run meet (node 0 listens on master_addr:master_port)."""
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = ""
    master_port: int = 29500


def _int_env(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}: must be an integer, got {raw[:40]!r}", field=name) from None
    if not low <= value <= high:
        raise InvalidInput(f"{name}: must be in {low}..{high}, got {value}", field=name)
    return value


def rendezvous_from_env(env: Mapping[str, str] = os.environ) -> Rendezvous:
    """The multi-node rendezvous torchrun's PET_* variables describe (one node without them)."""
    nnodes = _int_env(env, "PET_NNODES", 1, 1, 4096)
    if nnodes == 1:
        return Rendezvous()
    node_rank = _int_env(env, "PET_NODE_RANK", -1, 0, nnodes - 1)
    if node_rank < 0:
        raise InvalidInput("PET_NODE_RANK: required when PET_NNODES > 1", field="PET_NODE_RANK")
    addr = env.get("PET_MASTER_ADDR", "")
    if not addr or len(addr) > 253 or any(c.isspace() for c in addr):
        raise InvalidInput("PET_MASTER_ADDR: a host name or address is required when PET_NNODES > 1",
                           field="PET_MASTER_ADDR")
    return Rendezvous(nnodes, node_rank, addr, _int_env(env, "PET_MASTER_PORT", 29500, 1, 65535))


def torchrun_command(nproc: int, argv: list[str], rdzv: Rendezvous = Rendezvous()) -> list[str]:
    if rdzv.nnodes == 1:
        where = ["--standalone"]
    else:  # static rendezvous: fixed node ranks, node 0's address
        where = [f"--nnodes={rdzv.nnodes}", f"--node_rank={rdzv.node_rank}", f"--master_addr={rdzv.master_addr}",
                 f"--master_port={rdzv.master_port}"]
    return [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc_per_node={nproc}",
            "-m", "mambalign_runtime", *argv]


def launch(nproc: int, argv: list[str], events: EventWriter, rdzv: Rendezvous = Rendezvous()) -> int:
    """Run `argv` (the command line without --nproc) on `nproc` processes of this node; returns the exit
    code of the node's first process (global rank 0 on node 0)."""
    with tempfile.TemporaryDirectory(prefix="mambalign-launch-") as tmp:
        launch_dir = Path(tmp)
        # torchrun's PET_* would override the command line; the command line already carries them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PET_")}
        env[LAUNCH_DIR_ENV] = tmp
        proc = subprocess.Popen(torchrun_command(nproc, argv, rdzv), env=env, preexec_fn=_die_with_parent)
        terminated = False

        def forward(signum, frame) -> None:
            nonlocal terminated
            terminated = True
            pids = [int(p.read_text()) for p in launch_dir.glob("rank-*.pid") if p.read_text().strip()]
            log.info("SIGTERM: forwarding to %d worker(s)", len(pids))
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            if not pids:  # workers not started yet: torchrun stops them
                proc.send_signal(signal.SIGTERM)

        previous = signal.signal(signal.SIGTERM, forward)
        try:
            torchrun_code = proc.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)
        exit_file = launch_dir / "exit-code"
        code = int(exit_file.read_text()) if exit_file.is_file() else None
        if code is not None and not (code == 0 and torchrun_code != 0):
            return code
        errors = []
        for path in sorted(launch_dir.glob("rank-*.error.json")):
            rank = path.name.split(".")[0]
            errors.append(f"{rank}: {json.loads(path.read_text())['message']}")
        message = "; ".join(errors) or f"torchrun exited with {torchrun_code} (see stderr)"
        if terminated:
            message = f"stopped by SIGTERM before a checkpoint was written: {message}"
        if code is None or code == 0:
            # Rank 0 did not get to report (another rank failed first, or it was killed).
            events.error(f"distributed run failed: {message}", retryable=terminated)
        return EXIT_ERROR
