#!/usr/bin/env bash
# A real Kubernetes control plane for the tests, built from pinned Go modules (nothing is published as a
# `go install`-able binary). Usage:
#   scripts/kube.sh install   build into .cache/bin (each skipped when that version is there):
#     kube-apiserver, kube-controller-manager, kube-scheduler  from scripts/kube-wrapper/k8s (k8s.io/kubernetes)
#     etcd                                                     from scripts/kube-wrapper/etcd (etcd server)
#     kwok (fake nodes, pod phases)                            go install sigs.k8s.io/kwok/cmd/kwok
#   and .cache/bin/kwok-stages.yaml: kwok's "fast" node and pod stages, concatenated from its module source.
# The wrappers' go.mod/go.sum pin every dependency. First build: ~10 min of compile on 2 cores.
# The tests start the cluster themselves (test/support/kube-cluster.ts).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
k8s_version=v1.34.2
etcd_version=v3.6.5
kwok_version=v0.8.0
gobin=${KUBE_INSTALL_DIR:-$root/.cache/bin}

die() { echo "kube.sh: $*" >&2; exit 1; }

# Builds into a temporary name first so that a half-written binary never looks installed.
install_k8s() {
  local want="Kubernetes $k8s_version" ok=1 name
  for name in kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -x $gobin/$name && $("$gobin/$name" --version 2>/dev/null) == "$want" ]] || ok=0
  done
  if ((ok)); then echo "kube-apiserver, kube-controller-manager, kube-scheduler $k8s_version already in $gobin"; return; fi
  echo "building kube-apiserver, kube-controller-manager, kube-scheduler $k8s_version (about 10 min the first time)..."
  local minor=${k8s_version#v1.}; minor=${minor%%.*}
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  local tmp; tmp=$(mktemp -d "$gobin/.kube-build.XXXXXX")
  (cd "$root/scripts/kube-wrapper/k8s" && CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
  for name in kube-apiserver kube-controller-manager kube-scheduler; do mv -f "$tmp/$name" "$gobin/$name"; done
  rmdir "$tmp"
  "$gobin/kube-apiserver" --version
}

install_etcd() {
  if [[ -x $gobin/etcd ]] && "$gobin/etcd" --version 2>/dev/null | grep -qx "etcd Version: ${etcd_version#v}"; then
    echo "etcd $etcd_version already in $gobin"; return
  fi
  echo "building etcd $etcd_version..."
  (cd "$root/scripts/kube-wrapper/etcd" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$gobin/etcd.tmp" .)
  mv -f "$gobin/etcd.tmp" "$gobin/etcd"
  "$gobin/etcd" --version | head -1
}

install_kwok() {
  local stages=$gobin/kwok-stages.yaml
  if [[ -x $gobin/kwok ]] && go version -m "$gobin/kwok" | grep -q "mod[[:space:]]*sigs.k8s.io/kwok[[:space:]]*$kwok_version" \
    && [[ -s $stages ]] && grep -q "^# kwok $kwok_version" "$stages"; then
    echo "kwok $kwok_version already in $gobin"; return
  fi
  echo "installing kwok $kwok_version..."
  GOBIN=$gobin CGO_ENABLED=0 go install "sigs.k8s.io/kwok/cmd/kwok@$kwok_version"
  # The stage configs are not compiled in: take them from the module source (same pinned version).
  local src; src=$(go mod download -json "sigs.k8s.io/kwok@$kwok_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $src/kustomize/stage ]] || die "kwok module source has no kustomize/stage (looked in '$src')"
  {
    echo "# kwok $kwok_version stages (kustomize/stage/node/fast, kustomize/stage/pod/fast; Apache-2.0)"
    local f
    for f in "$src"/kustomize/stage/node/fast/*.yaml "$src"/kustomize/stage/pod/fast/*.yaml; do
      [[ $(basename "$f") == kustomization.yaml ]] && continue
      echo "---"; sed '/^---[[:space:]]*$/d' "$f"
    done
  } >"$stages.tmp"
  mv -f "$stages.tmp" "$stages"
  echo "installed $gobin/kwok and $stages"
}

cmd_install() {
  command -v go >/dev/null || die "Go >= 1.24 is needed to build the Kubernetes control plane (https://go.dev/dl/)"
  mkdir -p "$gobin"
  install_etcd
  install_kwok
  install_k8s
}

case ${1:-} in
  install) cmd_install ;;
  *) die "usage: scripts/kube.sh install" ;;
esac
