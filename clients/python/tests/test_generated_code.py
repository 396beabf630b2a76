"""clients/python/gen is what scripts/gen-python-client.sh makes from proto/ (it is committed so that
installing the client needs no code generator; this keeps it from going stale)."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys

from conftest import REPO_ROOT

GEN = REPO_ROOT / "clients/python/gen"


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_generated_code_matches_proto(tmp_path):
    out = tmp_path / "gen"
    gen = subprocess.run(["bash", str(REPO_ROOT / "scripts/gen-python-client.sh"), str(out)],
                         env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    assert _files(out) == _files(GEN), "files differ: run scripts/gen-python-client.sh"
    stale = [f for f in _files(out) if not filecmp.cmp(out / f, GEN / f, shallow=False)]
    assert not stale, f"stale generated files {stale}: run scripts/gen-python-client.sh"
