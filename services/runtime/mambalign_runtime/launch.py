"""`--nproc N`: run sft/dpo data-parallel on N local GPUs through torchrun, keeping the runtime contract.

The command re-launches itself as
`python -m torch.distributed.run --standalone --nproc_per_node N -m mambalign_runtime <args>`.
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
from pathlib import Path

from .distributed import LAUNCH_DIR_ENV
from .errors import EXIT_ERROR
from .events import EventWriter

log = logging.getLogger("mambalign_runtime")


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "mambalign_runtime", *argv]


def launch(nproc: int, argv: list[str], events: EventWriter) -> int:
    """Run `argv` (the command line without --nproc) on `nproc` processes; returns rank 0's exit code."""
    with tempfile.TemporaryDirectory(prefix="mambalign-launch-") as tmp:
        launch_dir = Path(tmp)
        env = {**os.environ, LAUNCH_DIR_ENV: tmp}
        proc = subprocess.Popen(torchrun_command(nproc, argv), env=env, preexec_fn=_die_with_parent)
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
