#!/usr/bin/env bash
# Brings up the whole local stack (nats-server, issuer, policy, exchanger, gateway) and serves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node deploy/local/run.mjs "$@"
