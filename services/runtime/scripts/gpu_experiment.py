"""What the device experiment scripts (scripts/gpu_decode_*.py) share: one JSON line per result,
each experiment in its own try/except, and a relative error. Imported from the scripts' folder
(`python3 scripts/<name>.py` puts it first on sys.path)."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable

import torch

from mambalign_runtime.bench import _card

T0 = time.time()


def emit(rec: dict, elapsed: bool = False) -> None:
    """Print rec as one JSON line, with the card (and the seconds since start when `elapsed`)."""
    head = {"card": _card(), **({"t_s": round(time.time() - T0, 1)} if elapsed else {})}
    print(json.dumps({**head, **rec}), flush=True)


def guarded(name: str, fn: Callable[[], object], reset: Callable[[], None] | None = None, **emit_kw) -> None:
    """Run one experiment; an error is reported as a line and the others go on. `reset` puts any
    switch the experiment set back to its default, whatever happened."""
    try:
        fn()
    except Exception as err:  # report and go on with the other experiments
        emit({"exp": name, "error": repr(err)[:400], "trace": traceback.format_exc()[-1500:]}, **emit_kw)
    finally:
        if reset is not None:
            reset()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a - b| / |b| in float64."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()
