#!/usr/bin/env bash
# grpcurl (the gRPC command-line client) for the reflection tests and for exploring the API by hand.
#   scripts/grpcurl.sh install   go install grpcurl into <repo>/.cache/bin (skipped if that version is there)
# Environment: GRPCURL_VERSION (default v1.9.4), GRPCURL_INSTALL_DIR (default <repo>/.cache/bin).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${GRPCURL_VERSION:-v1.9.4}
install_dir=${GRPCURL_INSTALL_DIR:-$root/.cache/bin}

die() { echo "grpcurl.sh: $*" >&2; exit 1; }

cmd_install() {
  local bin=$install_dir/grpcurl
  # `grpcurl -version` prints "grpcurl dev build <no version set>" for go-installed builds, so the
  # version is read from the module information Go embeds in the binary.
  if [[ -x $bin ]] && go version -m "$bin" 2>/dev/null | grep -qE "^\s+mod\s+github.com/fullstorydev/grpcurl\s+$version\s"; then
    echo "grpcurl $version already installed at $bin"
    return
  fi
  command -v go >/dev/null || die "go is required to build grpcurl $version"
  mkdir -p "$install_dir"
  echo "installing grpcurl $version into $install_dir"
  GOBIN=$install_dir go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$version"
  go version -m "$bin" | grep -E "^\s+mod\s"
}

case ${1:-} in
  install) cmd_install ;;
  *) die "usage: scripts/grpcurl.sh install" ;;
esac
