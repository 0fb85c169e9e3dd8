#!/usr/bin/env bash
# Benchmarks: they print figures, they do not pass or fail on speed.
#
#   scripts/bench.sh            every benchmark
#   scripts/bench.sh backfill   gold recomputation for 365 days x 20 teams
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_build_deps

which=${1:-all}
run_backfill() {
  log "backfill: 365 days x 20 teams of silver -> gold"
  cargo bench --locked -p dorafleet-coordinator --bench backfill
}

case "$which" in
  backfill) run_backfill ;;
  all) run_backfill ;;
  *) die "unknown benchmark '$which' (known: backfill, all)" ;;
esac
