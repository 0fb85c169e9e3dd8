#!/usr/bin/env bash
# The test command: installs what the tests need, then checks formatting,
# lints and runs the whole suite. Honours CARGO_TARGET_DIR (reuse a build cache).
#
#   scripts/test.sh                 everything
#   scripts/test.sh -E 'test(sim)'  extra arguments go to cargo nextest run
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
source scripts/lib/optional.sh
source scripts/lib/docker.sh

log "the repository stands alone (scripts/check-standalone.sh)"
scripts/check-standalone.sh
log "no import circle between crates or modules (scripts/import-cycles.py)"
python3 scripts/import-cycles.py

ensure_build_deps
# crates/sources/tests/held_back.rs cuts a link with an iptables rule.
ensure_debian_packages iptables
ensure_rabbitmq
start_optional_mongo_emulator

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# --workspace also builds the dorafleet binary (its package has integration
# tests), which the system tests in tests/ start as processes.
#
# Tests marked #[ignore] run after the suite, alone: the ones that restart
# the shared RabbitMQ (no other test may see the broker go away) and the
# fleet on the MongoDB emulator (too slow to share two cores with the suite).
if cargo nextest --version >/dev/null 2>&1; then
  log "cargo nextest run"
  cargo nextest run --workspace --locked --no-fail-fast "$@"
  if [ $# -eq 0 ]; then
    log "tests that run alone: RabbitMQ restarts, the fleet on MongoDB"
    cargo nextest run --workspace --locked --no-fail-fast --test-threads 1 --run-ignored only \
      -E 'test(rabbitmq_restart) | test(a_fleet_on_mongodb)'
  fi
else
  log "cargo test (cargo-nextest not installed)"
  cargo test --workspace --locked --no-fail-fast "$@"
  if [ $# -eq 0 ]; then
    log "tests that run alone: RabbitMQ restarts, the fleet on MongoDB"
    cargo test --workspace --locked --no-fail-fast -- --ignored --test-threads 1 rabbitmq_restart
    cargo test --workspace --locked --no-fail-fast -- --ignored --test-threads 1 a_fleet_on_mongodb
  fi
fi

# The production shape: every role in its own container on a private network
# (tests/tests/multihost.rs, one scenario at a time: they load both cores),
# then `docker compose up` of the real compose file. Docker is installed and
# started when missing; without it (no root, no engine) both say they skipped.
if [ $# -eq 0 ]; then
  if ensure_docker; then
    started=$SECONDS
    log "images for the container tests (scripts/build-images.sh --no-dorafleet)"
    scripts/build-images.sh --no-dorafleet
    log "the fleet across containers (tests/tests/multihost.rs)"
    if cargo nextest --version >/dev/null 2>&1; then
      cargo nextest run --locked -p dorafleet-system-tests --test multihost --run-ignored only \
        --test-threads 1 --no-fail-fast
    else
      cargo test --locked -p dorafleet-system-tests --test multihost -- --ignored --test-threads 1
    fi
    scenarios=$SECONDS
    log "docker compose up (scripts/compose-test.sh)"
    scripts/compose-test.sh
    log "containers: scenarios $((scenarios - started)) s, compose $((SECONDS - scenarios)) s"
  else
    log "skipped: the container scenarios and docker compose up need a Docker engine (above)"
  fi
fi

# dorafleet serve from the outside: the API against its OpenAPI document
# (schemathesis) and the dashboard in headless Chromium (Playwright).
log "dorafleet serve: API contract and browser tests (scripts/serve-tests.sh)"
scripts/serve-tests.sh || die "the serve tests failed (above)"

# Compose file, Dockerfile and Kubernetes manifests: static checks. Their tools
# come from Debian's archive and PyPI; without a network the script says so.
log "deployment files (scripts/check-deploy.sh)"
# The suite's build left the dorafleet binary the roles are checked against.
CHECK_DEPLOY_BIN="${CARGO_TARGET_DIR:-target}/debug/dorafleet" scripts/check-deploy.sh \
  || die "the deployment checks failed (above)"
