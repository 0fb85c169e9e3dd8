# Docker for the container tests and the image builds: the engine, a client,
# and Compose v2, installed from Debian's archive on a fresh machine and the
# engine started when its socket does not answer. Sourced, after setup.sh.

docker_answers() { docker info >/dev/null 2>&1; }

# The host's Debian mirror (deb822 sources or sources.list).
host_mirror() {
  local m
  m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | grep -m1 debian || true)
  [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' | grep -v security | grep -m1 debian || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# A running Docker engine, or a reason on stderr and status 1. Installs
# Debian's docker.io when there is no engine, and starts dockerd (as root)
# when its socket does not answer; its log goes to $DOCKERD_LOG.
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dorafleet-dockerd.log}
ensure_docker() {
  docker_answers && return 0
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1 || { echo "no Docker engine, and no root to install one" >&2; return 1; }
    ensure_debian_packages docker.io || return 1
  fi
  docker_answers && return 0
  [ "$(id -u)" -eq 0 ] || { echo "the Docker daemon does not answer; start it (as root: dockerd &)" >&2; return 1; }
  log "starting dockerd (log: $DOCKERD_LOG)"
  nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  local deadline=$((SECONDS + 60))
  until docker_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "dockerd did not answer within 60 s: see $DOCKERD_LOG" >&2
      return 1
    fi
    sleep 1
  done
}

# `docker compose` (v2). Debian 12 packages only Compose v1 (a different
# command); Debian 13's docker-compose package is v2, a static Go program
# that runs on Debian 12. It is fetched from the same mirror and checked the
# way apt would: the suite's InRelease signature against Debian's archive
# keyring, the package index against InRelease, the package against the index.
COMPOSE_SUITE=trixie
ensure_compose() {
  docker compose version >/dev/null 2>&1 && return 0
  [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] || { echo "Compose v2 install: only amd64 is handled" >&2; return 1; }
  ensure_debian_packages gpgv debian-archive-keyring xz-utils curl || return 1
  local mirror dir index_sha deb_path deb_sha
  mirror=$(host_mirror)
  dir=$(mktemp -d -t dorafleet-compose.XXXXXX)
  log "installing Compose v2 (docker-compose from Debian $COMPOSE_SUITE, $mirror)"
  curl -fsS "$mirror/dists/$COMPOSE_SUITE/InRelease" -o "$dir/InRelease" || { echo "cannot fetch $COMPOSE_SUITE's InRelease" >&2; return 1; }
  gpgv --keyring /usr/share/keyrings/debian-archive-keyring.gpg "$dir/InRelease" 2>/dev/null \
    || { echo "the signature of $COMPOSE_SUITE's InRelease does not verify" >&2; return 1; }
  index_sha=$(awk '/^SHA256:/ {f = 1; next} /^[^ ]/ {f = 0} f && $3 == "main/binary-amd64/Packages.xz" {print $1}' "$dir/InRelease")
  curl -fsS "$mirror/dists/$COMPOSE_SUITE/main/binary-amd64/Packages.xz" -o "$dir/Packages.xz" || return 1
  echo "$index_sha  $dir/Packages.xz" | sha256sum -c --quiet - || { echo "Packages.xz does not match InRelease" >&2; return 1; }
  xz -dc "$dir/Packages.xz" | awk '/^Package: docker-compose$/ {f = 1} /^$/ {f = 0} f' >"$dir/entry"
  deb_path=$(awk '/^Filename:/ {print $2}' "$dir/entry")
  deb_sha=$(awk '/^SHA256:/ {print $2}' "$dir/entry")
  [ -n "$deb_path" ] && [ -n "$deb_sha" ] || { echo "no docker-compose in $COMPOSE_SUITE" >&2; return 1; }
  curl -fsS "$mirror/$deb_path" -o "$dir/docker-compose.deb" || return 1
  echo "$deb_sha  $dir/docker-compose.deb" | sha256sum -c --quiet - || { echo "$deb_path does not match the index" >&2; return 1; }
  as_root dpkg -i "$dir/docker-compose.deb" >/dev/null || return 1
  rm -rf "$dir"
  docker compose version >/dev/null 2>&1
}
