#!/usr/bin/env bash
# The reliability figures (docs/reliability.md): the fault suite (tiny-model runs on real NATS, MinIO, trainer and
# runtime processes), the load test (stand-in workers) and the RPC fuzz, one file after another; prints each
# scenario's RELIABILITY line, the LOAD and RPC_FUZZ lines, and the fault table (also written to
# $MAMBALIGN_RELIABILITY_OUT/faults.md). These files are part of `npm test` too; this runs only them.
# Usage: scripts/reliability.sh [faults|load|fuzz ...]   (default: all three)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.cache/bin:$PATH"
export MAMBALIGN_PYTHON=${MAMBALIGN_PYTHON:-$root/.venv/bin/python}
export MAMBALIGN_RELIABILITY_OUT=${MAMBALIGN_RELIABILITY_OUT:-$root/.mambalign/reliability}
mkdir -p "$MAMBALIGN_RELIABILITY_OUT"
declare -A files=([faults]=test/reliability/faults.test.ts [load]=test/reliability/load.test.ts [fuzz]=test/reliability/rpc-fuzz.test.ts)
status=0
for what in "${@:-faults load fuzz}"; do
  for w in $what; do
    log="$MAMBALIGN_RELIABILITY_OUT/$w.log"
    node --conditions=development --import tsx --test --test-timeout=1800000 "${files[$w]}" >"$log" 2>&1 || { status=1; echo "$w: FAILED (see $log)"; }
    grep -hoE '(RELIABILITY|LOAD|RPC_FUZZ) .*' "$log" || true
  done
done
[[ -f $MAMBALIGN_RELIABILITY_OUT/faults.md ]] && cat "$MAMBALIGN_RELIABILITY_OUT/faults.md"
exit $status
