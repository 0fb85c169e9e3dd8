#!/usr/bin/env bash
# Builds dorafleet (release) and runs the demo: the whole pipeline against the
# built-in simulator with a small fault rate. Arguments go to `dorafleet demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

ensure_build_deps
log "building dorafleet (release)"
cargo build --release --locked -p dorafleet
exec "${CARGO_TARGET_DIR:-target}/release/dorafleet" demo "$@"
