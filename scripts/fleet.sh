#!/usr/bin/env bash
# A fleet on one machine: the simulator, a coordinator and N workers as
# separate processes against the local RabbitMQ and a shared SQLite
# warehouse. Runs one pipeline run over the simulator's history, prints the
# fleet summary and the DORA table, and stops everything it started.
#
#   scripts/fleet.sh [WORKERS] [DAYS]     (default 3 workers, 30 days)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

workers=${1:-3}
days=${2:-30}
teams=5

ensure_build_deps
ensure_rabbitmq
log "building dorafleet (release)"
cargo build --release --locked -p dorafleet
bin="${CARGO_TARGET_DIR:-target}/release/dorafleet"

work=$(mktemp -d -t dorafleet-fleet.XXXXXX)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
end=$(date -u +%F)
from=$(date -u -d "$end - $days days" +%F)

log "simulator on port $port ($teams teams, $days days)"
"$bin" sim --port "$port" --days "$days" --teams "$teams" --end-date "$end" >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

"$bin" sim --print-config --port "$port" --days "$days" --teams "$teams" --end-date "$end" >"$work/dorafleet.toml"
export DORAFLEET_CONFIG="$work/dorafleet.toml"
export DORAFLEET_WAREHOUSE__URL="sqlite:$work/warehouse.db"
export DORAFLEET_BROKER__PREFIX="dorafleet-fleet-sh"

log "starting $workers workers"
for i in $(seq 1 "$workers"); do
  "$bin" worker --name "worker-$i" >"$work/worker-$i.log" 2>&1 &
  pids+=($!)
done

log "coordinator: one run over $from .. $end"
started=$(date +%s.%N)
status=0
"$bin" coordinator --from "$from" --to "$end" --name coordinator 2>"$work/coordinator.log" || status=$?
elapsed=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")

echo
echo "fleet: $workers worker processes, wall time ${elapsed} s, logs in $work"
"$bin" metrics --from "$from" --to "$end" --summary-only
exit "$status"
