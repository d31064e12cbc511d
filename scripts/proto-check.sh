#!/usr/bin/env bash
# Fails when the committed generated types differ from what proto/ generates;
# the working tree is never touched. (buf.yaml holds the lint rules for
# `buf lint` where buf is installed.)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash scripts/proto-gen.sh "$tmp/generated" >/dev/null
if ! diff -r "$tmp/generated" libs/proto/src/generated >/dev/null; then
  echo "error: libs/proto/src/generated is stale: run npm run proto:gen and commit" >&2
  exit 1
fi
