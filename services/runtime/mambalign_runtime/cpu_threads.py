"""Intra-op threads for CPU work, resolved once at start-up, before torch is imported.

torch's default is one thread per core. On a small CPU shared by several runtime processes (the
embedded default runs the trainer's and the evaluator's at once), OpenMP's threads wait on each
other: the demo's SFT ran at ~110 tokens/s with 2 threads against ~1,500 with one on a loaded
2-core machine. So one thread unless OMP_NUM_THREADS says otherwise, whoever launches the runtime
(torchrun's default too); set OMP_NUM_THREADS to give CPU training of a larger model more cores.
GPU work is unaffected: its threads are the GPU's.
"""

from __future__ import annotations

import os
import sys
from typing import MutableMapping

from .errors import InvalidInput

ENV = "OMP_NUM_THREADS"


def resolve_cpu_threads(env: MutableMapping[str, str]) -> int:
    raw = env.get(ENV, "").strip()
    if not raw:
        return 1
    threads = int(raw) if raw.isdigit() else 0
    if threads < 1:
        raise InvalidInput(f"{ENV}: must be a positive integer, got {raw[:40]!r}", field=ENV)
    return threads


def apply_cpu_threads(env: MutableMapping[str, str] = os.environ) -> int:
    """Sets OMP_NUM_THREADS for torch (read when it loads) and for child processes (torchrun ranks)."""
    threads = resolve_cpu_threads(env)
    env[ENV] = str(threads)
    if "torch" in sys.modules:  # already loaded (in-process callers): tell it directly
        sys.modules["torch"].set_num_threads(threads)
    return threads
