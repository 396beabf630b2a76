#!/usr/bin/env bash
# MinIO for development and tests (upstream publishes no binaries any more: built with `go install`).
# Usage:
#   scripts/minio.sh install   build the pinned MinIO into .cache/bin/minio (skipped when already that version),
#                              and scripts/minio-admin (bucket-scoped users) into .cache/bin/minio-admin
#   scripts/minio.sh start     run it in the background on $MINIO_ADDRESS (default 127.0.0.1:9000),
#                              data in .cache/minio/data, and create bucket $MAMBALIGN_BUCKET (default mambalign)
#   scripts/minio.sh stop      stop the server started by `start`
# Root user: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else minioadmin / minioadmin (dev only). Services use the
# bucket-scoped user `start` makes (keys in .cache/minio/service-credentials, mode 0600), never the root user.
# Tests do not use `start`: services/core/test-support/minio-server.ts runs its own server per test file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c} # latest commit the module proxy serves (2026-02-12)
gobin=$root/.cache/bin
state=$root/.cache/minio
address=${MINIO_ADDRESS:-127.0.0.1:9000}
console_address=${MINIO_CONSOLE_ADDRESS:-127.0.0.1:9001}

die() { echo "minio.sh: $*" >&2; exit 1; }

install() {
  if [[ -x $gobin/minio ]] && go version -m "$gobin/minio" 2>/dev/null | grep -q "mod[[:space:]]*github.com/minio/minio[[:space:]]*$version"; then
    echo "minio $version already installed at $gobin/minio"
    return
  fi
  command -v go >/dev/null || die "Go >= 1.24 is needed to build MinIO (https://go.dev/dl/)"
  mkdir -p "$gobin"
  rm -f "$gobin/minio" # may be a symlink to another build
  echo "building github.com/minio/minio@$version into $gobin (a few minutes)..."
  GOBIN=$gobin CGO_ENABLED=0 go install "github.com/minio/minio@$version"
  echo "installed $gobin/minio"
}

# minio-admin (scripts/minio-admin): gives a bucket a user allowed that bucket only, through MinIO's admin API.
install_admin() {
  command -v go >/dev/null || die "Go >= 1.24 is needed to build minio-admin (https://go.dev/dl/)"
  mkdir -p "$gobin"
  (cd "$root/scripts/minio-admin" && GOBIN=$gobin CGO_ENABLED=0 go install .)
  echo "installed $gobin/minio-admin"
}

minio_bin() {
  if [[ -n ${MINIO_BIN:-} ]]; then echo "$MINIO_BIN"
  elif [[ -x $gobin/minio ]]; then echo "$gobin/minio"
  elif command -v minio >/dev/null; then command -v minio
  else die "no minio binary: run \`bash scripts/minio.sh install\`"
  fi
}

start() {
  local pidfile=$state/minio.pid
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "minio already running (pid $(cat "$pidfile")) on http://$address"
    return
  fi
  local bin; bin=$(minio_bin)
  mkdir -p "$state/data"
  export MINIO_ROOT_USER=${AWS_ACCESS_KEY_ID:-minioadmin} MINIO_ROOT_PASSWORD=${AWS_SECRET_ACCESS_KEY:-minioadmin}
  MINIO_BROWSER=off MINIO_UPDATE=off nohup "$bin" server "$state/data" --address "$address" \
    --console-address "$console_address" >"$state/minio.log" 2>&1 &
  echo $! >"$pidfile"
  local url=http://$address deadline=$((SECONDS + 60))
  until curl -fsS "$url/minio/health/ready" >/dev/null 2>&1; do
    kill -0 "$(cat "$pidfile")" 2>/dev/null || die "minio exited; see $state/minio.log"
    ((SECONDS < deadline)) || die "minio not ready after 60 s; see $state/minio.log"
    sleep 0.2 # poll interval
  done
  local bucket=${MAMBALIGN_BUCKET:-mambalign}
  (cd "$root" && MINIO_URL=$url BUCKET=$bucket node --conditions=development --import tsx --input-type=module -e '
    import { S3ObjectStore } from "./services/core/src/store/index.ts";
    await new S3ObjectStore({ endPoint: process.env.MINIO_URL, bucket: process.env.BUCKET,
      accessKey: process.env.MINIO_ROOT_USER, secretKey: process.env.MINIO_ROOT_PASSWORD }).ensureBucket();')
  # Services get a user allowed this bucket only, never the root user; its keys stay in a 0600 file.
  local creds=$state/service-credentials
  if [[ ! -f $creds ]]; then
    (umask 077; printf 'AWS_ACCESS_KEY_ID=mambalign-svc\nAWS_SECRET_ACCESS_KEY=%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$creds")
  fi
  local admin=${MINIO_ADMIN_BIN:-$gobin/minio-admin}
  [[ -x $admin ]] || die "no minio-admin: run \`bash scripts/minio.sh install\`"
  SCOPED_SECRET_KEY=$(sed -n 's/^AWS_SECRET_ACCESS_KEY=//p' "$creds") "$admin" bucket-user -endpoint "$address" -bucket "$bucket" \
    -user "$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$creds")" >/dev/null
  cat <<EOT
minio running (pid $(cat "$pidfile")) on $url, bucket $bucket; log $state/minio.log
  export MAMBALIGN_STORE=s3 MAMBALIGN_S3_ENDPOINT=$url MAMBALIGN_BUCKET=$bucket
  export \$(cat $creds)   # the services' user: this bucket only
EOT
}

stop() {
  local pidfile=$state/minio.pid
  [[ -f $pidfile ]] || { echo "minio not running (no $pidfile)"; return; }
  local pid; pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
  echo "minio stopped"
}

case ${1:-} in
  install) install; install_admin ;;
  start) start ;;
  stop) stop ;;
  *) die "usage: scripts/minio.sh install|start|stop" ;;
esac
