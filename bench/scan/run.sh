#!/usr/bin/env bash
# Run every scan bench (detection, throughput, remote) and print the figures.
# Usage: bash bench/scan/run.sh [--quick] [--skip detection,throughput,remote] [--size-gb N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [ ! -x bench/.venv-peers/bin/python ]; then
  bash bench/scan/setup.sh || echo "[run] some peers could not be installed; they are reported as unavailable"
fi
exec "$ROOT/.venv/bin/python" -m bench.scan "$@"
