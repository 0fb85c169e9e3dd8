# Shared set-up for dorafleet's scripts: make sure what the build and the
# tests need is installed, on a fresh Debian machine as on a developer's.
# Sourced, not executed.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"; fi
}

# Debian packages the build links against (native TLS for the HTTP clients).
ensure_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_rust() {
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs) first"
  for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
      command -v rustup >/dev/null 2>&1 || die "cargo $component missing and no rustup to add it"
      log "adding rust component $component"
      rustup component add "$component"
    fi
  done
}

ensure_build_deps() {
  ensure_rust
  ensure_debian_packages pkg-config libssl-dev
}

# RabbitMQ answers on 127.0.0.1:5672? The fleet's broker tests need it.
rabbitmq_answers() {
  (exec 3<>/dev/tcp/127.0.0.1/5672) >/dev/null 2>&1
}

# Make sure a RabbitMQ broker answers on 127.0.0.1:5672 (the broker and fleet
# tests need it): install rabbitmq-server if missing, start it detached, and
# wait until it accepts connections. DORAFLEET_SKIP_RABBITMQ=1 skips it (the
# RabbitMQ tests then skip themselves too).
ensure_rabbitmq() {
  if [ "${DORAFLEET_SKIP_RABBITMQ:-}" = 1 ]; then
    log "DORAFLEET_SKIP_RABBITMQ=1: not starting RabbitMQ; its tests are skipped"
    return 0
  fi
  if rabbitmq_answers; then return 0; fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    ensure_debian_packages rabbitmq-server
    command -v rabbitmq-server >/dev/null 2>&1 || export PATH="$PATH:/usr/sbin:/usr/lib/rabbitmq/bin"
  fi
  command -v rabbitmq-server >/dev/null 2>&1 || die "rabbitmq-server is not installed and could not be installed"
  log "starting RabbitMQ (rabbitmq-server -detached)"
  as_root rabbitmq-server -detached || die "rabbitmq-server -detached failed: see /var/log/rabbitmq/"
  local deadline=$((SECONDS + 90))
  until rabbitmq_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "RabbitMQ did not answer on 127.0.0.1:5672 within 90 s: see /var/log/rabbitmq/ (or set DORAFLEET_SKIP_RABBITMQ=1 to skip the RabbitMQ tests)"
    fi
    sleep 1
  done
  # The port opens before the node has booted every plugin; wait for that too.
  if command -v rabbitmqctl >/dev/null 2>&1; then
    as_root rabbitmqctl await_startup --timeout $((deadline - SECONDS > 5 ? deadline - SECONDS : 5)) >/dev/null 2>&1 \
      || log "rabbitmqctl await_startup did not confirm the boot; continuing since the port answers"
  fi
  log "RabbitMQ is up on 127.0.0.1:5672"
}
