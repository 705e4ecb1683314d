#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: lint gates, then every unit and black-box test.
# It installs nothing by hand: cargo fetches crates; black-box tests start the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
