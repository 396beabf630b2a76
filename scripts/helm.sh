#!/usr/bin/env bash
# Helm for this repo. `scripts/helm.sh install` builds the pinned release into .cache/bin (skipped when
# present); any other arguments run that helm: HELM_BIN, else .cache/bin/helm, else helm on PATH.
set -euo pipefail
HELM_VERSION=v4.2.4
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.cache/bin"

if [[ "${1:-}" == "install" ]]; then
  if [[ -x "$BIN_DIR/helm" ]]; then
    echo "helm present: $("$BIN_DIR/helm" version --short)"
    exit 0
  fi
  command -v go >/dev/null || { echo "go is required to install helm ($HELM_VERSION)" >&2; exit 1; }
  mkdir -p "$BIN_DIR"
  GOBIN="$BIN_DIR" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  "$BIN_DIR/helm" version --short
  exit 0
fi

if [[ -n "${HELM_BIN:-}" ]]; then HELM="$HELM_BIN"
elif [[ -x "$BIN_DIR/helm" ]]; then HELM="$BIN_DIR/helm"
else HELM=helm
fi
exec "$HELM" "$@"
