#!/usr/bin/env bash
# Benchmarks: they print figures, they do not pass or fail on speed.
#
#   scripts/bench.sh            every benchmark
#   scripts/bench.sh backfill   gold recomputation for 365 days x 20 teams
#   scripts/bench.sh fleet      no-op tasks end to end through RabbitMQ with 1
#                               and 2 workers, span export off and on, next to
#                               the broker's real ceiling (persistent, quorum,
#                               confirms pipelined, 2 messages per task)
#                               (knobs: DORAFLEET_BENCH_* in crates/dorafleet/benches/fleet.rs;
#                               DORAFLEET_BENCH_BASELINE=path/to/dorafleet runs an earlier
#                               build beside the current one)
#   scripts/bench.sh workers    real work (extract from the simulator, normalize, aggregate)
#                               by 1 and 2 worker processes on one SQLite file, budgets not
#                               binding (knobs: DORAFLEET_BENCH_* in crates/dorafleet/benches/workers.rs;
#                               DORAFLEET_BENCH_BASELINE=path/to/dorafleet runs an earlier build
#                               beside the current one)
#   scripts/bench.sh celery     the fleet benchmark with Celery beside it: the same no-op
#                               task count with publisher confirms and acks_late on the
#                               same RabbitMQ, and the ratio (Celery, pinned below, in a
#                               virtualenv under ${XDG_CACHE_HOME:-~/.cache}/dorafleet)
#   scripts/bench.sh replay     archive 30,000 dead letters from RabbitMQ, then replay a third
#                               one at a time, a third with per-letter warehouse writes and a
#                               third in batches
#   scripts/bench.sh sensors    volume sensor false holds and detection on simulated histories
#   scripts/bench.sh incremental API requests of an hourly incremental run on the evolving
#                               world, against a full re-crawl of the covered window;
#                               with conditional requests on vs off; a budget-bound first
#                               sync against its floor (knobs: DORAFLEET_BENCH_TEAMS,
#                               DORAFLEET_BENCH_HOURS, DORAFLEET_BENCH_GITHUB_RPS)
#   scripts/bench.sh org        a 1,000-repository organisation (200 teams x 5 repos, Jira and
#                               Jenkins to match): the simulator alone, a first sync through
#                               k GitHub credentials against its floor and each credential's
#                               busiest second, hourly runs with conditional requests on vs off
#                               (knobs: DORAFLEET_BENCH_* in crates/standalone/benches/org.rs)
#   scripts/bench.sh alerts     gold write -> webhook received latency over 1,000 alerts
#                               (knobs: DORAFLEET_BENCH_* in crates/alerts/benches/alerts.rs)
#   scripts/bench.sh serve      the dashboard's page weight and load time for 50 teams x
#                               365 days (knobs: DORAFLEET_BENCH_TEAMS, _DAYS, _REPEAT)
#   scripts/bench.sh credentials a budget-bound GitHub extract with 1, 2 and 4 credentials
#                               (knobs: DORAFLEET_BENCH_REQUESTS, _RATE, _TASKS)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_build_deps

which=${1:-all}

# RabbitMQ on 127.0.0.1:5672, started if needed; $1 names who needs it.
need_rabbitmq() {
  if [ "${DORAFLEET_SKIP_RABBITMQ:-}" = 1 ]; then
    die "$1 needs RabbitMQ on 127.0.0.1:5672 (unset DORAFLEET_SKIP_RABBITMQ)"
  fi
  ensure_rabbitmq
}

run_backfill() {
  log "backfill: 365 days x 20 teams of silver -> gold"
  cargo bench --locked -p dorafleet-coordinator --bench backfill
}

run_fleet() {
  need_rabbitmq "the fleet benchmark"
  log "fleet: no-op tasks end to end through RabbitMQ (1 and 2 workers) vs the raw broker ceiling"
  cargo bench --locked -p dorafleet --bench fleet
}

run_workers() {
  need_rabbitmq "the workers benchmark"
  log "workers: real work from the simulator by 1 and 2 worker processes on one SQLite warehouse"
  cargo bench --locked -p dorafleet --bench workers
}

# Celery, pinned, in a virtualenv of its own under the user's cache.
CELERY_VERSION=5.7.0
celery_python() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/dorafleet/celery-$CELERY_VERSION"
  if ! "$venv/bin/python" -c "import celery" >/dev/null 2>&1; then
    log "installing Celery $CELERY_VERSION into $venv"
    command -v python3 >/dev/null 2>&1 || die "the Celery benchmark needs python3"
    python3 -m venv "$venv" 2>/dev/null || {
      ensure_debian_packages python3-venv
      python3 -m venv "$venv"
    }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "celery==$CELERY_VERSION"
  fi
  echo "$venv/bin/python"
}

run_celery() {
  need_rabbitmq "the Celery benchmark"
  local python
  python=$(celery_python)
  log "celery: dorafleet and Celery $CELERY_VERSION, the same no-op tasks on the same RabbitMQ"
  DORAFLEET_BENCH_CELERY="$python" DORAFLEET_BENCH_TRACING="${DORAFLEET_BENCH_TRACING:-off}" \
    cargo bench --locked -p dorafleet --bench fleet
}

run_replay() {
  need_rabbitmq "the replay benchmark"
  log "replay: archive 30,000 dead letters, replay a third each one at a time, with per-letter writes and in batches"
  cargo bench --locked -p dorafleet-coordinator --bench replay
}

run_sensors() {
  log "sensors: volume sensor false holds and one-week-silence detection on simulated 90-day histories"
  cargo bench --locked -p dorafleet-standalone --bench sensors
}

run_incremental() {
  log "incremental: API requests per hourly run on the evolving world vs a full re-crawl"
  cargo bench --locked -p dorafleet-standalone --bench incremental
}

run_org() {
  log "org: a 1,000-repository organisation through several GitHub credentials"
  cargo bench --locked -p dorafleet-standalone --bench org
}

run_alerts() {
  log "alerts: 1,000 gold changes, each an alert, from the gold write to the webhook"
  cargo bench --locked -p dorafleet-alerts --bench alerts
}

run_serve() {
  log "serve: overview and team page weight and load time, 50 teams x 365 days of gold"
  cargo bench --locked -p dorafleet-serve --bench overview
}

run_credentials() {
  log "credentials: a budget-bound GitHub extract with 1, 2 and 4 credentials of the same rate"
  cargo bench --locked -p dorafleet-sources --bench credentials
}

case "$which" in
  backfill) run_backfill ;;
  fleet) run_fleet ;;
  workers) run_workers ;;
  celery) run_celery ;;
  replay) run_replay ;;
  sensors) run_sensors ;;
  incremental) run_incremental ;;
  org) run_org ;;
  alerts) run_alerts ;;
  serve) run_serve ;;
  credentials) run_credentials ;;
  all) run_backfill; run_fleet; run_workers; run_celery; run_replay; run_sensors; run_incremental; run_org; run_credentials; run_alerts; run_serve ;;
  *) die "unknown benchmark '$which' (known: backfill, fleet, workers, celery, replay, sensors, incremental, org, credentials, alerts, serve, all)" ;;
esac
