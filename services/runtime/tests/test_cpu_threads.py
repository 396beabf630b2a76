"""cpu threads — one intra-op thread unless OMP_NUM_THREADS says otherwise, whoever launches the runtime
(`mambalign up` launched it without a thread setting and trained 5-10x slower than `mambalign demo`)."""

import json
import os
import subprocess
import sys

import pytest

from mambalign_runtime.cpu_threads import resolve_cpu_threads
from mambalign_runtime.errors import InvalidInput

from conftest import RUNTIME_DIR, of_kind, sft_spec, write_spec


def test_one_thread_by_default_and_omp_num_threads_when_set():
    assert resolve_cpu_threads({}) == 1
    assert resolve_cpu_threads({"OMP_NUM_THREADS": ""}) == 1
    assert resolve_cpu_threads({"OMP_NUM_THREADS": "4"}) == 4


@pytest.mark.parametrize("raw", ["0", "-2", "four", "1.5"])
def test_a_bad_omp_num_threads_names_the_variable(raw):
    with pytest.raises(InvalidInput) as err:
        resolve_cpu_threads({"OMP_NUM_THREADS": raw})
    assert err.value.field == "OMP_NUM_THREADS"


def test_runtime_launched_without_a_thread_setting_trains_on_one_thread(tmp_path, model_dir, demo_dir):
    spec = write_spec(tmp_path / "s.json", sft_spec(str(model_dir), demo_dir, tmp_path / "o", maxSteps=1))
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(PYTHONPATH=str(RUNTIME_DIR), LOG_LEVEL="WARNING")
    out = subprocess.run([sys.executable, "-m", "mambalign_runtime", "sft", "--spec", str(spec)], env=env,
                         capture_output=True, text=True, timeout=300, cwd=RUNTIME_DIR)
    assert out.returncode == 0, out.stderr[-2000:]
    (started,) = of_kind([json.loads(line) for line in out.stdout.splitlines()], "started")
    assert started["versions"]["cpu_threads"] == "1"
