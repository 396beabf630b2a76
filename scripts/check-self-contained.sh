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
# A tracked symbolic link to an absolute path points at one machine's files (a worktree's link to a shared
# venv was committed once and broke setup on a fresh clone).
links=$(git ls-files -s | awk '$1 == "120000" {print $4}' | while read -r l; do case $(git cat-file -p "$(git ls-files -s -- "$l" | awk '{print $2}')") in /*) echo "$l";; esac; done)
if [[ -n $links ]]; then
  printf '%s\n' $links
  echo "check-self-contained: the tracked links above point to absolute paths outside the repository; remove them (git rm --cached) and ignore them" >&2
  exit 1
fi
echo "check-self-contained: no tracked file outside docs/ refers to the shared/ folder beside the checkout"
