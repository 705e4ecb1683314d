#!/usr/bin/env bash
# The load benchmark, from a clean checkout: builds Tresor and the load generator in release
# mode, installs OpenBao's `bao` into ./.venv, and runs bench/bench.py (Tresor against OpenBao,
# dev and durable modes). Results: bench/results/latest.md and latest.json.
# `bench/run.sh cluster` runs bench/cluster.py instead: three-node Raft clusters of both
# (results: bench/results/cluster.md and cluster.json).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p tresor -p tresor-load
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r tests/compat/requirements.txt
if [ "${1:-}" = cluster ]; then
  shift
  exec .venv/bin/python bench/cluster.py "$@"
fi
exec .venv/bin/python bench/bench.py "$@"
