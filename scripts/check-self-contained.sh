#!/usr/bin/env bash
# Fails when a tracked file outside docs/ (Markdown excepted) refers to the shared/ reading folder
# beside our checkout: a fresh clone has nothing beside it, so code, tests, scripts and images may read
# only what the repository carries (copied with a README giving source and licence).
# Usage: scripts/check-self-contained.sh   (run by .ci/run before the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
q="[\"']"
# A parent-relative shared folder, shared/data or shared/anchor in a path, or Python's "shared" / "data" path joins.
pattern="(\.\./)+shared\b|\bshared/(data|anchor)\b|${q}shared${q} */ *${q}(data|anchor)${q}"
if git grep -n -I -E "$pattern" -- . ':!docs' ':!*.md' ':!scripts/check-self-contained.sh'; then
  echo "check-self-contained: the lines above read the shared/ folder beside the checkout; copy what they need into the repo (README with source + licence beside it)" >&2
  exit 1
fi
echo "check-self-contained: no tracked file outside docs/ refers to the shared/ folder beside the checkout"
