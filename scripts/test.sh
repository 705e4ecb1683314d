#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: lint gates, every unit and black-box test, then
# the compatibility suite, which drives Tresor with real clients (OpenBao's `bao` CLI, hvac) and
# compares its answers with a real OpenBao server, and hvac's own integration suite; between
# them, a short run of every fuzz target (scripts/fuzz.sh). It sets up what it needs by itself: cargo
# fetches crates; Python packages go into ./.venv from tests/compat/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --locked -p tresor
./scripts/services.sh
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

# A minute of fuzzing per parser (cargo-fuzz, installed into target/tools by the script).
FUZZ_SECONDS="${FUZZ_SECONDS:-60}" ./scripts/fuzz.sh

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/compat/requirements.txt
TRESOR_BIN="$PWD/target/debug/tresor" .venv/bin/python -m pytest -q tests/compat
# hvac's own integration suite, from its source distribution (fetched into target/hvac-suite).
TRESOR_BIN="$PWD/target/debug/tresor" .venv/bin/python tests/hvac/run.py
