#!/usr/bin/env bash
# Runs every test: TypeScript unit + integration tests (node:test; real NATS and MinIO started on random
# loopback ports by the tests themselves), the Python runtime's pytest suite on CPU and the Python client's.
# Usage: scripts/test.sh [ts|py]   (default: both)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
what=${1:-all}
export PATH="$root/.cache/bin:$PATH"
export MAMBALIGN_PYTHON=${MAMBALIGN_PYTHON:-$root/.venv/bin/python}
status=0
if [[ $what == all || $what == ts ]]; then
  npx tsc -b
  mapfile -t files < <(find services test -name '*.test.ts' -not -path '*/node_modules/*' -not -path '*/dist/*' | sort)
  node --conditions=development --import tsx --test --test-concurrency=2 --test-timeout=600000 "${files[@]}" || status=1
fi
if [[ $what == all || $what == py ]]; then
  (cd services/runtime && "$MAMBALIGN_PYTHON" -m pytest -q -p no:cacheprovider) || status=1
  # The Python client against the embedded control plane (`mambalign up`), and its generated code's freshness.
  (cd clients/python && "$MAMBALIGN_PYTHON" -m pytest -q -p no:cacheprovider tests) || status=1
fi
exit $status
