#!/usr/bin/env bash
# `docker compose up` of the real docker-compose.yml, with the override that
# swaps only the images no registry gives here (deploy/compose/standins.yml),
# and checks what a user would: every service's health check goes green with
# three workers (`--scale worker=3`), the coordinator's first run completes,
# `docker compose exec coordinator dorafleet metrics` shows the DORA table,
# and the run's spans reach the OTLP receiver standing in for Jaeger. Then
# everything is taken down with its volumes.
#
#   scripts/compose-test.sh          (scripts/test.sh runs it when Docker can run)
#
# Honours CARGO_TARGET_DIR. Skips, saying why, when there is no Docker engine
# or no MongoDB emulator to stand in for mongo:8.0.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
source scripts/lib/optional.sh
source scripts/lib/docker.sh

ensure_docker || { log "compose test skipped: no Docker engine (above)"; exit 0; }
ensure_compose || die "Compose v2 could not be installed (above)"
started=$SECONDS
scripts/build-images.sh
if ! docker image inspect dorafleet-standin/mongo-emulator:local >/dev/null 2>&1; then
  log "compose test skipped: no image stands in for mongo:8.0 (the MongoDB emulator is not here)"
  exit 0
fi
built=$SECONDS

target=${CARGO_TARGET_DIR:-target}
cargo build --locked -q -p dorafleet-system-tests --bin otlp-receiver
DORAFLEET_OTLP_RECEIVER_BIN=$(cd "$target/debug" && pwd)/otlp-receiver
export DORAFLEET_OTLP_RECEIVER_BIN
# The host's own RabbitMQ holds 5672: the fleet's is published elsewhere.
RABBITMQ_HOST_PORT=$(free_local_port)
MONGO_HOST_PORT=$(free_local_port)
export RABBITMQ_HOST_PORT MONGO_HOST_PORT

project=dorafleet-compose-test
# The test's own override shortens the first run (tests/compose/short-first-run.yml).
compose() {
  docker compose -p "$project" -f docker-compose.yml -f deploy/compose/standins.yml \
    -f tests/compose/short-first-run.yml "$@"
}
dump() {
  compose ps -a >&2 || true
  compose logs --no-color --tail 40 >&2 || true
}
trap 'compose down -v --remove-orphans >/dev/null 2>&1 || true' EXIT
compose down -v --remove-orphans >/dev/null 2>&1 || true

log "docker compose up -d --scale worker=3 --wait"
compose up -d --scale worker=3 --wait --wait-timeout 300 || { dump; die "the fleet did not come up healthy"; }
up=$SECONDS
compose ps --format 'table {{.Name}}\t{{.Image}}\t{{.Status}}' >&2

not_healthy=$(compose ps --format '{{.Service}} {{.Health}}' | awk '$2 != "healthy"')
[ -z "$not_healthy" ] || { dump; die "services not healthy: $not_healthy"; }
workers=$(compose ps -q worker | wc -l)
[ "$workers" -eq 3 ] || { dump; die "expected 3 workers, found $workers"; }

log "waiting for the coordinator's first run to complete"
deadline=$((SECONDS + 900))
until compose exec -T coordinator dorafleet runs list 2>/dev/null | grep -q completed; do
  [ "$SECONDS" -lt "$deadline" ] || { compose exec -T coordinator dorafleet runs list >&2 || true; dump; die "no completed run within 900 s"; }
  sleep 5
done
compose exec -T coordinator dorafleet runs list >&2
ran=$SECONDS

log "docker compose exec coordinator dorafleet metrics"
metrics=$(compose exec -T coordinator dorafleet metrics)
printf '%s\n' "$metrics"
for expect in "deploy days" "lead time for changes" "change failure rate" "recovery time" "payments" "platform"; do
  grep -qi "$expect" <<<"$metrics" || die "the metrics table lacks \"$expect\""
done

traces=$(compose logs --no-color jaeger | grep -c ' trace ' || true)
[ "$traces" -ge 1 ] || { dump; die "no trace reached the OTLP receiver"; }

log "compose test passed: images $((built - started)) s, up and healthy $((up - built)) s, first run $((ran - up)) s; $traces trace(s) at the OTLP receiver"
