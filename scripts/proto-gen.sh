#!/usr/bin/env bash
# Regenerates libs/proto/src/generated (or the folder given) from proto/ with the
# same options the runtime loader uses (libs/proto/src/loader-options.ts). CI
# fails on a diff. The output is written aside first: a proto that does not
# compile leaves the committed types as they were.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-libs/proto/src/generated}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx --no-install proto-loader-gen-types --keepCase --longs=String --enums=String --defaults --oneofs \
  --includeComments --grpcLib=@grpc/grpc-js --targetFileExtension=.ts --importFileExtension=.js \
  -I proto -O "$tmp/generated" $(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp/generated" "$out"
