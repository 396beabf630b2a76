"""Fixtures: the embedded control plane (`mambalign up`: NATS, the fs store, every service, the
Python runtime for training) on a random loopback port, in a temporary state directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
UP_READY_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory) -> Iterator[dict]:
    """`mambalign up -o json`'s data (addr, stateDir, ...) while it runs; stopped with SIGTERM after."""
    state_dir = tmp_path_factory.mktemp("mambalign-up")
    cmd = ["node", str(REPO_ROOT / "services/cli/bin/mambalign.js"), "up", "--state-dir", str(state_dir),
           "--port", "0", "--metrics-port", "0", "--dashboard-port", "0", "-o", "json"]
    # The local admin token goes into the state directory, not the user's config directory.
    env = {**os.environ, "LOG_LEVEL": "warn", "XDG_CONFIG_HOME": str(state_dir / "config")}
    proc = subprocess.Popen(cmd, cwd=state_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # A start that hangs is killed, which ends _read_up_data's read with up's output in the error.
    watchdog = threading.Timer(UP_READY_TIMEOUT_S, proc.kill)
    watchdog.start()
    try:
        data = _read_up_data(proc)
        watchdog.cancel()
        yield data
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _read_up_data(proc: subprocess.Popen) -> dict:
    """Reads `up`'s output until its JSON object is complete (warnings may come first)."""
    assert proc.stdout is not None
    seen: list[str] = []
    buf = ""
    for line in proc.stdout:  # ends when `up` exits
        seen.append(line)
        if line.startswith("{"):
            buf = ""
        buf += line
        if line.startswith("}"):
            return json.loads(buf)
    raise RuntimeError(f"mambalign up exited ({proc.wait()}) before it was up:\n{''.join(seen)[-4000:]}")
