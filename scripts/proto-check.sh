#!/usr/bin/env bash
# Fails when the committed generated types differ from what proto/ generates. (buf.yaml holds the lint rules for `buf lint` where buf is installed.)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
cp -r libs/proto/src/generated "$tmp/before"
bash scripts/proto-gen.sh >/dev/null
if ! diff -r "$tmp/before" libs/proto/src/generated >/dev/null; then
  echo "error: libs/proto/src/generated is stale: run npm run proto:gen and commit" >&2
  rm -rf libs/proto/src/generated && cp -r "$tmp/before" libs/proto/src/generated
  exit 1
fi
rm -rf "$tmp"
