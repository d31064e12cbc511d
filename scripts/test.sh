#!/usr/bin/env bash
# Runs the whole test suite (unit, integration against real processes, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The TLS tests make a throwaway CA with the openssl command line.
if ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing openssl (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  else
    echo "error: the tests need the openssl command line: apt-get install -y openssl" >&2
    exit 1
  fi
fi
npm run --silent lint
# vitest allows a leftover .only unless CI is set, and .ci/run does not set it: a focused test would pass the run
# while skipping the rest of its file.
npx --no-install vitest run --allowOnly=false "$@"
