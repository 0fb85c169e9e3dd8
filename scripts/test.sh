#!/usr/bin/env bash
# The test command: installs what the tests need, then checks formatting,
# lints and runs the whole suite. Honours CARGO_TARGET_DIR (reuse a build cache).
#
#   scripts/test.sh                 everything
#   scripts/test.sh -E 'test(sim)'  extra arguments go to cargo nextest run
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

ensure_build_deps
ensure_rabbitmq

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  log "cargo nextest run"
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  log "cargo test (cargo-nextest not installed)"
  cargo test --workspace --locked --no-fail-fast "$@"
fi
