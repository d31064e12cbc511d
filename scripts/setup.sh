#!/usr/bin/env bash
# Installs what the stack needs when it is missing, then builds.
# Used by `npm start` and `npm test` (`--test`); safe to run again. `--bench` (used by
# `npm run bench`) also installs the benchmarks' load generators.
set -euo pipefail
cd "$(dirname "$0")/.."

# package.json's engines: vitest's vite needs 20.19 (or 22.12) and the lint config import.meta.dirname.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null; then
  echo "error: Node.js 20.19 or newer is required (found: $(node -v 2>/dev/null || echo none))." >&2
  exit 1
fi

# npm dependencies: install when absent or when the lock file changed since the last install.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# nats-server: the one external component (JetStream). Debian's package works.
# `npm start` can use a server of its own (NATS_URL); `npm test` cannot: every test starts nats-server itself, on a
# free port (natsServerBinary() in libs/testkit), so for the tests the binary is needed whatever NATS_URL says.
find_nats() { command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || { [ -x /usr/local/bin/nats-server ] && echo /usr/local/bin/nats-server; } || true; }
need_nats_binary=""
case "${1:-}" in
  --test | --bench) need_nats_binary=1 ;;
  *) [ -n "${NATS_URL:-}" ] || need_nats_binary=1 ;;
esac
if [ -n "$need_nats_binary" ] && [ -z "$(find_nats)" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing nats-server (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
    # Debian's package enables a system service; the stack runs its own server.
    (systemctl disable --now nats-server >/dev/null 2>&1 || true)
  else
    echo "error: nats-server is not installed. Install it as root with:" >&2
    echo "         apt-get update && apt-get install -y nats-server" >&2
    if [ -z "${1:-}" ]; then echo "       or point NATS_URL at a NATS server with JetStream enabled." >&2; fi
    exit 1
  fi
fi

# Load generators for `npm run bench` only (C programs from Debian: they cost the
# measured services less CPU than a Node load generator would). Without them the
# benchmarks fall back to Node load generators and say so.
if [ "${1:-}" = "--bench" ]; then
  missing=""
  command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
  command -v h2load >/dev/null 2>&1 || missing="$missing nghttp2-client"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing load generators:$missing (apt-get)"
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; } ||
        echo "warning: could not install$missing; the benchmarks will use Node load generators" >&2
    else
      echo "note: not installed:$missing (apt-get install$missing); the benchmarks will use Node load generators" >&2
    fi
  fi
fi

echo "==> building (tsc -b)"
npx --no-install tsc -b
