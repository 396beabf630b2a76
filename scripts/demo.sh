#!/usr/bin/env bash
# README command 1: runs the demo end to end on a fresh machine, installing what is missing first:
#   - npm packages (npm ci from the lock file) when node_modules is missing or older than the lock
#   - the Python runtime's venv at .venv (services/runtime/requirements.txt + the runtime itself)
#   - nats-server (bash scripts/nats.sh install: a pinned release built with `go install`)
# then `mambalign demo`: every service in one process on the embedded default (filesystem store under
# .mambalign/, a local NATS server), SFT -> merge -> DPO -> eval of a tiny Mamba on CPU, live progress,
# a before/after accuracy table and the registry's versions with their lineage.
# Usage: scripts/demo.sh [--state-dir DIR]   (arguments go to `mambalign demo`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

command -v node >/dev/null || { echo "demo.sh: Node.js >= 20 is required (https://nodejs.org)" >&2; exit 1; }
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  step "npm packages"
  npm ci --no-audit --no-fund
fi

# Same venv and stamp as scripts/setup.sh, so either script keeps it current for the other.
req=services/runtime/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" services/runtime/pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python ]] || [[ ! -f $stamp ]] || [[ $(cat "$stamp") != "$want" ]]; then
  step "Python runtime venv (.venv: torch, transformers, peft; a few minutes the first time)"
  py=${PYTHON:-python3}
  [[ -x .venv/bin/python ]] || "$py" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r "$req"
  .venv/bin/pip install --quiet --no-deps -e services/runtime
  echo "$want" > "$stamp"
fi

step "nats-server"
bash scripts/nats.sh install

step "mambalign demo"
export PATH="$root/.cache/bin:$PATH"
export MAMBALIGN_PYTHON=${MAMBALIGN_PYTHON:-$root/.venv/bin/python}
exec node services/cli/bin/mambalign.js demo "$@"
