"""RuntimeEvent writer: one proto3-JSON object per stdout line and nothing else on stdout.

Keys are the lowerCamelCase JSON names of proto/mambalign/v1/events.proto; the oneof
member's name is the key of the payload ("checkpointSaved": {...}).
"""

from __future__ import annotations

import json
import math
import sys
import threading
from datetime import datetime, timezone
from typing import IO, Any


def _json_value(value: Any) -> Any:
    # proto3 JSON writes non-finite doubles as strings; json.dumps would write NaN, which is not JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def timestamp_now() -> str:
    """RFC 3339 UTC with millisecond precision, as proto3 JSON writes google.protobuf.Timestamp."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class EventWriter:
    """Writes RuntimeEvents to a stream (stdout by default), flushing each line."""

    def __init__(self, stream: IO[str] | None = None):
        self._stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()
        # Experiment trackers (trackers.TrackerSink) fed from the progress and metrics events.
        self.trackers: Any = None

    def emit(self, kind: str, payload: dict[str, Any]) -> None:
        line = json.dumps({"time": timestamp_now(), kind: _json_value(payload)}, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def started(self, command: str, total_steps: int, start_step: int, device: str, versions: dict[str, str]) -> None:
        self.emit(
            "started",
            {"command": command, "totalSteps": total_steps, "startStep": start_step, "device": device, "versions": versions},
        )

    def progress(self, step: int, total: int, loss: float | None = None, lr: float | None = None,
                 tokens_per_s: float | None = None, grad_norm: float | None = None, eta_s: float | None = None,
                 extra: dict[str, float] | None = None, mfu: float | None = None,
                 gpu_mem_gib: float | None = None) -> None:
        payload = {"step": step, "total": total, "loss": loss, "lr": lr, "tokensPerS": tokens_per_s,
                   "gradNorm": grad_norm, "etaS": eta_s, "mfu": mfu, "gpuMemGib": gpu_mem_gib, "extra": extra or None}
        self.emit("progress", payload)
        if self.trackers is not None:
            from .trackers import progress_values

            self.trackers.log(step, progress_values(payload))

    def checkpoint_saved(self, step: int, directory: str, reason: str) -> None:
        self.emit("checkpointSaved", {"step": step, "dir": directory, "reason": reason})

    def metrics(self, phase: str, step: int, values: dict[str, float]) -> None:
        self.emit("metrics", {"phase": phase, "step": step, "values": values})
        if self.trackers is not None:
            self.trackers.log(step, values)

    def artifact(self, kind: str, path: str) -> None:
        self.emit("artifact", {"kind": kind, "path": path})

    def finished(self, status: str, step: int, wall_s: float) -> None:
        self.emit("finished", {"status": status, "step": step, "wallS": wall_s})
        self.close_trackers(status)

    def error(self, message: str, field: str = "", retryable: bool = False) -> None:
        self.emit("error", {"message": message, "field": field or None, "retryable": retryable})
        self.close_trackers("failed")

    def close_trackers(self, status: str) -> None:
        if self.trackers is not None:
            self.trackers.close(status)
            self.trackers = None
