#!/usr/bin/env bash
# Installs everything the demo and the tests need, as on a new machine; idempotent (skips what is there).
#   - npm packages (npm ci, lock file pinned), then the TypeScript build (generated code first)
#   - the Python runtime's venv at .venv (torch, transformers, peft pinned to the GPU machine's versions),
#     with the Python client (clients/python, editable) and its generator
#   - an MLflow tracking server for the report_to tests in its own venv at .venv-mlflow
#   - nats-server, MinIO, helm and grpcurl built from pinned releases with `go install` into .cache/bin
#   - etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (scripts/kube.sh) into .cache/bin
#   - Debian's chromium, which the dashboard's browser test drives (puppeteer-core); apt-get, so only as root
# Usage: scripts/setup.sh [--demo]   (--demo: only what `mambalign demo` needs: npm, venv, nats-server)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
servers=1
for a in "$@"; do
  case $a in
    --demo) servers=0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
step() { printf '\n==> %s\n' "$*"; }

step "npm packages"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  echo "node_modules up to date"
fi
step "TypeScript build"
npm run --silent build

step "Python runtime venv (.venv)"
# CUDA torch even without a GPU: PyPI's only Linux x86_64 torch 2.11.0 wheel is the CUDA 13 build, and its
# libtorch.so needs libtorch_cuda.so, which links cudart, cublas, cudnn, nccl ... (the nvidia-* wheels,
# ~2.7 GB); installed without them, `import torch` fails. PyTorch publishes CPU-only wheels on its own
# package index: MAMBALIGN_TORCH_INDEX_URL=<that index> installs torch from there first (a 2.7 GB smaller
# venv on a laptop), plus the Triton release torch pins, since the kernel tests run it in its CPU interpreter.
py=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then "$py" -m venv .venv; fi
req=services/runtime/requirements.txt
# The Python client's generator and gRPC runtime, resolved together with the runtime's pins (one protobuf).
client_req=clients/python/requirements-dev.txt
stamp=.venv/.requirements.sha256
want=$( (sha256sum "$req" services/runtime/pyproject.toml "$client_req" clients/python/pyproject.toml; echo "${MAMBALIGN_TORCH_INDEX_URL:-}") | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp ]] || [[ $(cat "$stamp") != "$want" ]]; then
  .venv/bin/pip install --quiet --upgrade pip
  if [[ -n ${MAMBALIGN_TORCH_INDEX_URL:-} ]]; then
    torch_pin=$(grep -E '^torch==' "$req")
    .venv/bin/pip install --quiet --index-url "$MAMBALIGN_TORCH_INDEX_URL" "$torch_pin"
    .venv/bin/pip install --quiet "$(grep -E '^triton==' services/runtime/requirements-cpu-index.txt)"
  fi
  .venv/bin/pip install --quiet -r "$req" -r "$client_req"
  .venv/bin/pip install --quiet --no-deps -e services/runtime -e clients/python
  echo "$want" > "$stamp"
else
  echo "venv up to date"
fi

if [[ $servers == 1 ]]; then
  step "MLflow tracking server for the tests (.venv-mlflow)"
  # The full mlflow package is a web server (pandas, scipy, scikit-learn, ...): its own venv, apart from the
  # runtime's, which has only the client (mlflow-skinny). The report_to tests start it on loopback.
  mreq=services/runtime/requirements-mlflow-server.txt
  mstamp=.venv-mlflow/.requirements.sha256
  mwant=$(sha256sum "$mreq" | cut -d' ' -f1)
  if [[ ! -f $mstamp ]] || [[ $(cat "$mstamp") != "$mwant" ]]; then
    if [[ ! -x .venv-mlflow/bin/python ]]; then "$py" -m venv .venv-mlflow; fi
    .venv-mlflow/bin/pip install --quiet --upgrade pip
    .venv-mlflow/bin/pip install --quiet -r "$mreq"
    echo "$mwant" > "$mstamp"
  else
    echo "mlflow venv up to date"
  fi
fi

step "nats-server (go install of a pinned release into .cache/bin)"
bash scripts/nats.sh install
if [[ $servers == 1 ]]; then
  step "MinIO (and minio-admin, bucket-scoped users), helm, grpcurl (go install of pinned releases into .cache/bin)"
  bash scripts/minio.sh install
  bash scripts/helm.sh install
  bash scripts/grpcurl.sh install
  step "Kubernetes control plane for the tests (etcd, kube-apiserver/-controller-manager/-scheduler, kwok; ~10 min the first time)"
  bash scripts/kube.sh install
  step "chromium (Debian) for the dashboard's browser test"
  if command -v chromium >/dev/null; then
    echo "chromium $(chromium --version 2>/dev/null | awk '{print $2}') present"
  elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium missing and apt-get is not usable here (needs root): install chromium, or set CHROMIUM=/path/to/chrome, for test/e2e/dashboard.test.ts" >&2
  fi
fi

step "setup complete"
