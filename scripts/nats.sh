#!/usr/bin/env bash
# NATS server for development and tests.
#   scripts/nats.sh install         go install nats-server into <repo>/.cache/bin (skipped if that version is there)
#   scripts/nats.sh start [PORT]    run a JetStream dev server in the foreground (random free port if none)
# Environment: NATS_VERSION (default v2.14.5), NATS_INSTALL_DIR (default <repo>/.cache/bin),
#   NATS_SERVER_BIN (binary to run; default: the installed one, else nats-server on PATH),
#   NATS_DATA_DIR (JetStream store for `start`; default <repo>/.cache/nats-data/<port>).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${NATS_VERSION:-v2.14.5}
install_dir=${NATS_INSTALL_DIR:-$root/.cache/bin}

die() { echo "nats.sh: $*" >&2; exit 1; }

cmd_install() {
  local bin=$install_dir/nats-server
  if [[ -x $bin ]] && [[ $("$bin" --version 2>/dev/null) == "nats-server: $version" ]]; then
    echo "nats-server $version already installed at $bin"
    return
  fi
  command -v go >/dev/null || die "go is required (nats-server $version needs Go >= 1.25)"
  mkdir -p "$install_dir"
  echo "installing nats-server $version into $install_dir"
  GOBIN=$install_dir go install "github.com/nats-io/nats-server/v2@$version"
  "$bin" --version
}

find_bin() {
  if [[ -n ${NATS_SERVER_BIN:-} ]]; then
    [[ -x $NATS_SERVER_BIN ]] || die "NATS_SERVER_BIN=$NATS_SERVER_BIN is not executable"
    echo "$NATS_SERVER_BIN"
  elif [[ -x $install_dir/nats-server ]]; then
    echo "$install_dir/nats-server"
  elif command -v nats-server >/dev/null; then
    command -v nats-server
  else
    die "nats-server not found; run: bash scripts/nats.sh install"
  fi
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

cmd_start() {
  local port=${1:-}
  [[ -z $port ]] && port=$(free_port)
  [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
  local bin data
  bin=$(find_bin)
  data=${NATS_DATA_DIR:-$root/.cache/nats-data/$port}
  mkdir -p "$data"
  echo "NATS with JetStream at nats://127.0.0.1:$port (store $data); export MAMBALIGN_NATS_URL=nats://127.0.0.1:$port" >&2
  exec "$bin" -a 127.0.0.1 -p "$port" -js -sd "$data"
}

case ${1:-} in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  *) die "usage: scripts/nats.sh install | start [PORT]" ;;
esac
