#!/usr/bin/env bash
# Regenerates libs/proto/src/generated from proto/ with the same options the
# runtime loader uses (libs/proto/src/loader-options.ts). CI fails on a diff.
set -euo pipefail
cd "$(dirname "$0")/.."
out=libs/proto/src/generated
rm -rf "$out"
npx --no-install proto-loader-gen-types --keepCase --longs=String --enums=String --defaults --oneofs \
  --includeComments --grpcLib=@grpc/grpc-js --targetFileExtension=.ts --importFileExtension=.js \
  -I proto -O "$out" $(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
