#!/usr/bin/env bash
# Generates TypeScript from proto/ into services/core/src/gen (the only generated folder).
# Usage: scripts/gen-proto.sh [OUT_DIR]   (OUT_DIR lets the staleness test generate elsewhere)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/services/core/src/gen}
rm -rf "$out" && mkdir -p "$out"
"$root/node_modules/.bin/protoc" \
  --plugin=protoc-gen-ts_proto="$root/node_modules/.bin/protoc-gen-ts_proto" \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,env=node,useDate=true,forceLong=bigint,importSuffix=.js,useOptionals=none,oneof=unions-value,exportCommonSymbols=false \
  -I "$root/proto" -I "$root/node_modules/protoc/include" \
  $(cd "$root/proto" && find mambalign -name '*.proto' | sort)
# One entry point for every generated module, so services import from "@mambalign/core".
( cd "$out" && for f in $(find . -name '*.ts' ! -name index.ts | sort); do echo "export * from \"${f%.ts}.js\";"; done ) > "$out/index.ts"
