#!/usr/bin/env bash
# Runs the whole test suite (unit, integration against real processes, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent lint
npx --no-install vitest run "$@"
