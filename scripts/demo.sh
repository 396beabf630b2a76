#!/usr/bin/env bash
# README command 1: runs the demo end to end on a fresh machine, installing what is missing first
# (scripts/setup.sh --demo: npm packages, the Python runtime's venv at .venv, nats-server), then
# `mambalign demo`: every service in one process on the embedded default (filesystem store under
# .mambalign/, a local NATS server), SFT -> merge -> DPO -> eval of a tiny Mamba on CPU, live progress,
# a before/after accuracy table and the registry's versions with their lineage.
# Usage: scripts/demo.sh [--state-dir DIR]   (arguments go to `mambalign demo`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v node >/dev/null || { echo "demo.sh: Node.js >= 20 is required (https://nodejs.org)" >&2; exit 1; }
bash scripts/setup.sh --demo
printf '\n==> mambalign demo\n'
export PATH="$root/.cache/bin:$PATH"
export MAMBALIGN_PYTHON=${MAMBALIGN_PYTHON:-$root/.venv/bin/python}
exec node services/cli/bin/mambalign.js demo "$@"
