#!/usr/bin/env bash
# Builds the images the fleet runs on a machine that cannot pull them: every
# base image the Dockerfile and docker-compose.yml name is pulled when a
# registry answers, and otherwise replaced by a local stand-in tagged with
# exactly the official name; then the project's own Dockerfile is built,
# unchanged, into dorafleet:local.
#
#   scripts/build-images.sh [--rebuild] [--no-dorafleet] [--buildkit-src DIR]
#
#   --rebuild           rebuild the stand-ins and dorafleet:local even when
#                       they exist (without it, what exists is kept)
#   --no-dorafleet      stand-ins only
#   --buildkit-src DIR  a clone of github.com/moby/buildkit (a work tree or a
#                       bare git directory), for the docker/dockerfile:1
#                       stand-in (also BUILDKIT_SRC=DIR)
#
# The stand-ins (files in deploy/standins/):
#
#   debian:bookworm-slim      debootstrap --variant=minbase from the mirror the
#                             host's apt sources name; trusts the host's CA bundle
#   rust:1.95-bookworm        that base + gcc/libc6-dev + the host's rustup
#                             toolchain for RUST_VERSION (nothing is downloaded)
#   docker/dockerfile:1       only if the Dockerfile names a frontend in a
#                             `# syntax=` line (it does not: BuildKit's built-in
#                             frontend is enough): compiled from --buildkit-src
#                             (tag v0.11.6) with Debian's Go
#   rabbitmq:4.1-management   Debian's rabbitmq-server (3.10) with the
#                             management plugin and RABBITMQ_DEFAULT_USER/PASS
#   mongo:8.0                 not built under that name (it is not MongoDB):
#                             dorafleet-standin/mongo-emulator:local, the
#                             MongoDB emulator in a container, when the
#                             emulator is there (scripts/lib/optional.sh) and
#                             has run once; deploy/compose/standins.yml uses it
#   jaegertracing/all-in-one  not built: deploy/compose/standins.yml runs the
#                             tests' OTLP receiver (tests/src/bin) instead
#
# And one image of the project's own, for the container tests in tests/:
#
#   dorafleet-runtime:bookworm  the Dockerfile's runtime stage without the
#                             binary (the tests mount the one they built)
#
# dorafleet:local is labelled with the sources it was built from and built
# again (incrementally: BuildKit keeps cargo's cache) when they changed.
#
# The Dockerfile needs BuildKit (cache mounts, COPY --chmod): `docker buildx`
# when present, otherwise a docker client with BuildKit built in (Debian's
# docker.io 20.10). dockerd is started when its socket does not answer (root).
# Work files live in ${DORAFLEET_STANDINS_CACHE:-/var/cache/dorafleet-standins}.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
source scripts/lib/optional.sh
source scripts/lib/docker.sh
repo=$PWD

rebuild=0
build_dorafleet=1
buildkit_src=${BUILDKIT_SRC:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) rebuild=1 ;;
    --no-dorafleet) build_dorafleet=0 ;;
    --buildkit-src) buildkit_src=${2:?--buildkit-src needs a directory}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

cache=${DORAFLEET_STANDINS_CACHE:-/var/cache/dorafleet-standins}
standins=$repo/deploy/standins
rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
[ -n "$rust_version" ] || die "no ARG RUST_VERSION=… in the Dockerfile"
frontend_tag=v0.11.6 # BuildKit tag of the docker/dockerfile stand-in (builds with Go 1.19)

# The images, in build order (each stand-in may build on the ones before it).
debian_image=debian:bookworm-slim
rust_image=rust:${rust_version}-bookworm
frontend_image=$(sed -n '1s/^# *syntax=//p' Dockerfile)
rabbitmq_image=$(sed -n 's/^ *image: *\(rabbitmq:.*\)$/\1/p' docker-compose.yml)
mongo_image=$(sed -n 's/^ *image: *\(mongo:.*\)$/\1/p' docker-compose.yml)
runtime_image=dorafleet-runtime:bookworm
jaeger_image=$(sed -n 's/^ *image: *\(jaegertracing\/.*\)$/\1/p' docker-compose.yml)
grep -q "^FROM rust:\${RUST_VERSION}-bookworm" Dockerfile || die "the Dockerfile no longer builds FROM rust:\${RUST_VERSION}-bookworm: update $0"
grep -q "^FROM $debian_image" Dockerfile || die "the Dockerfile no longer runs on $debian_image: update $0"

secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# --- dockerd and a BuildKit-capable client --------------------------------

# BuildKit builds: docker buildx when installed; otherwise a classic client
# (before 23.0) that carries BuildKit itself, e.g. Debian's /usr/bin/docker.
buildkit_build=()
find_buildkit_client() {
  if docker buildx version >/dev/null 2>&1; then
    buildkit_build=(docker buildx build --load)
    return
  fi
  local candidate major
  for candidate in $(type -ap docker) /usr/bin/docker; do
    major=$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1) || continue
    if [ -n "$major" ] && [ "$major" -lt 23 ] 2>/dev/null; then
      buildkit_build=(env DOCKER_BUILDKIT=1 "$candidate" build)
      return
    fi
  done
  die "the Dockerfile needs BuildKit: install docker buildx, or Debian's docker.io (its 20.10 client builds with BuildKit)"
}

# --- helpers ----------------------------------------------------------------

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Keep an image that exists (unless --rebuild); otherwise try the registry
# once. Returns 0 when there is nothing left to build.
have_or_pull() {
  local image=$1
  if image_exists "$image" && [ "$rebuild" = 0 ]; then
    log "$image: exists, kept (--rebuild builds it again)"
    return 0
  fi
  if [ "$rebuild" = 0 ] && timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
    log "$image: pulled from the registry"
    return 0
  fi
  return 1
}

host_ca_bundle() {
  local f
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    [ -s "$f" ] && { echo "$f"; return; }
  done
  die "no system CA bundle on the host (/etc/ssl/certs/ca-certificates.crt): install ca-certificates"
}

timed() { # NAME COMMAND... : runs COMMAND, records how long it took
  local name=$1 start=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%-28s %s' "$name" "$(secs $((SECONDS - start)))")")
}
timings=()

# --- the stand-ins ----------------------------------------------------------

build_debian() {
  have_or_pull "$debian_image" && return
  command -v debootstrap >/dev/null 2>&1 || ensure_debian_packages debootstrap
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing and could not be installed (apt-get install debootstrap)"
  local mirror rootfs=$cache/rootfs-bookworm
  mirror=$(host_mirror)
  log "$debian_image: stand-in by debootstrap --variant=minbase bookworm from $mirror"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || die "debootstrap failed: see $cache/debootstrap.log"
  # The same apt sources as the official image (main, updates, security),
  # the host's CA bundle for HTTPS, and no package cache.
  rm -f "$rootfs/etc/apt/sources.list"
  local security
  security=$(grep -hs '^URIs:.*debian-security' /etc/apt/sources.list.d/*.sources | awk '{print $2; exit}')
  sed -e "s|@MIRROR@|$mirror|" -e "s|@SECURITY@|${security:-http://deb.debian.org/debian-security}|" "$standins/debian.sources" >"$rootfs/etc/apt/sources.list.d/debian.sources"
  mkdir -p "$rootfs/usr/local/share/ca-certificates" "$rootfs/etc/ssl/certs"
  cp "$(host_ca_bundle)" "$rootfs/usr/local/share/ca-certificates/host-ca-bundle.crt"
  cp "$(host_ca_bundle)" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$debian_image" >/dev/null || die "docker import of $debian_image failed"
  rm -rf "$rootfs"
}

build_rust() {
  have_or_pull "$rust_image" && return
  # The host's toolchain for RUST_VERSION (rustup's name, or its target).
  local toolchain_home=${RUSTUP_HOME:-$HOME/.rustup} toolchain ctx=$cache/rust-context
  toolchain="$rust_version.0-x86_64-unknown-linux-gnu"
  [ "$(uname -m)" = x86_64 ] || die "$rust_image stand-in: only x86_64 hosts are handled"
  local dir
  for dir in "$toolchain_home/toolchains/$rust_version-x86_64-unknown-linux-gnu" "$toolchain_home/toolchains/$toolchain"; do
    if [ -x "$dir/bin/rustc" ] && "$dir/bin/rustc" --version | grep -q "^rustc $rust_version\."; then
      toolchain=$(basename "$dir")
      break
    fi
    dir=
  done
  if [ -z "$dir" ] && command -v rustc >/dev/null 2>&1 && rustc --version | grep -q "^rustc $rust_version\."; then
    dir=$(rustc --print sysroot)
  fi
  [ -n "$dir" ] || die "$rust_image stand-in: no Rust $rust_version toolchain on the host (rustup toolchain install $rust_version)"
  local rustup_bin
  rustup_bin=$(command -v rustup || true)
  [ -n "$rustup_bin" ] || die "$rust_image stand-in: no rustup on the host (its proxies become cargo/rustc in the image)"
  log "$rust_image: stand-in from $debian_image + the host's toolchain $(basename "$(readlink -f "$dir")") ($("$dir/bin/rustc" --version))"
  rm -rf "$ctx"
  mkdir -p "$ctx/rustup/toolchains/$toolchain" "$ctx/cargo/bin"
  # The documentation (800 MB) stays behind.
  tar -C "$(readlink -f "$dir")" --exclude=./share/doc -c . | tar -C "$ctx/rustup/toolchains/$toolchain" -x
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' "$toolchain" \
    >"$ctx/rustup/settings.toml"
  cp "$(readlink -f "$rustup_bin")" "$ctx/cargo/bin/rustup"
  local tool
  for tool in cargo rustc rustdoc rust-gdb rust-lldb cargo-clippy clippy-driver cargo-fmt rustfmt; do
    [ -e "$ctx/rustup/toolchains/$toolchain/bin/$tool" ] && ln -s rustup "$ctx/cargo/bin/$tool"
  done
  cp "$standins/rust.Dockerfile" "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -t "$rust_image" "$ctx" >"$cache/rust-build.log" 2>&1 \
    || { tail -n 20 "$cache/rust-build.log" >&2; die "docker build of $rust_image failed: see $cache/rust-build.log"; }
  rm -rf "$ctx"
}

build_frontend() {
  [ -n "$frontend_image" ] || return 0
  have_or_pull "$frontend_image" && return
  [ -n "$buildkit_src" ] || die "$frontend_image cannot be pulled: the Dockerfile's '# syntax=' line needs it; pass --buildkit-src DIR (a clone of github.com/moby/buildkit) to build a stand-in"
  local gitdir src=$cache/buildkit-$frontend_tag out=$cache/frontend
  if [ -d "$buildkit_src/.git" ]; then gitdir=$buildkit_src/.git; else gitdir=$buildkit_src; fi
  git --git-dir="$gitdir" rev-parse -q --verify "$frontend_tag^{commit}" >/dev/null \
    || die "$buildkit_src has no tag $frontend_tag (fetch the tags of github.com/moby/buildkit)"
  ensure_debian_packages golang-1.19-go
  log "$frontend_image: stand-in from BuildKit $frontend_tag (frontend/dockerfile/cmd/dockerfile-frontend, Go 1.19, vendored modules)"
  rm -rf "$src" "$out"
  mkdir -p "$src" "$out/bin"
  git --git-dir="$gitdir" archive "$frontend_tag" | tar -C "$src" -x
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=vendor GOCACHE=$cache/go-build GOPATH=$cache/go GOTOOLCHAIN=local \
    /usr/lib/go-1.19/bin/go build -o "$out/bin/dockerfile-frontend" \
    -ldflags "-X main.Version=$frontend_tag-standin -X main.Package=github.com/moby/buildkit/frontend/dockerfile" \
    -tags "netgo static_build osusergo" ./frontend/dockerfile/cmd/dockerfile-frontend) \
    || die "building the Dockerfile frontend failed"
  # What the official image carries: the binary, its entrypoint and labels.
  tar -C "$out" -c bin | docker import \
    --change 'ENTRYPOINT ["/bin/dockerfile-frontend"]' \
    --change 'LABEL moby.buildkit.frontend.network.none="true"' \
    --change 'LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"' \
    - "$frontend_image" >/dev/null || die "docker import of $frontend_image failed"
  rm -rf "$src" "$out"
}

build_rabbitmq() {
  [ -n "$rabbitmq_image" ] || return 0
  have_or_pull "$rabbitmq_image" && return
  log "$rabbitmq_image: stand-in from $debian_image + Debian's rabbitmq-server (3.10) and its management plugin"
  DOCKER_BUILDKIT=0 docker build -t "$rabbitmq_image" -f "$standins/rabbitmq.Dockerfile" "$standins" >"$cache/rabbitmq-build.log" 2>&1 \
    || { tail -n 20 "$cache/rabbitmq-build.log" >&2; die "docker build of $rabbitmq_image failed: see $cache/rabbitmq-build.log"; }
}

emulator_image=dorafleet-standin/mongo-emulator:local
build_mongo_emulator() {
  if image_exists "$emulator_image" && [ "$rebuild" = 0 ]; then
    log "$emulator_image: exists, kept (--rebuild builds it again)"
    return
  fi
  local emulator venv python_bin python_home ctx=$cache/mongo-emulator-context
  emulator=$(optional_mongo_emulator_dir) || emulator=""
  venv=${XDG_CACHE_HOME:-$HOME/.cache}/mongo-emulator-venv
  if [ -z "$emulator" ] || [ ! -x "$venv/bin/python" ]; then
    log "$emulator_image: skipped (no MongoDB emulator here, or it has never run: its virtualenv $venv is missing)"
    return
  fi
  python_bin=$(readlink -f "$venv/bin/python")
  python_home=$(dirname "$(dirname "$python_bin")")
  log "$emulator_image: $debian_image + the emulator from $emulator, CPython $python_home, virtualenv $venv"
  rm -rf "$ctx"
  mkdir -p "$ctx/python" "$ctx/venv" "$ctx/emulator"
  tar -C "$python_home" --exclude=./lib/python3.13/test --exclude='__pycache__' -c . | tar -C "$ctx/python" -x
  tar -C "$venv" --exclude='__pycache__' -c . | tar -C "$ctx/venv" -x
  cp "$emulator"/*.py "$emulator"/*.txt "$ctx/emulator/"
  cp "$standins/mongo-emulator.Dockerfile" "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -t "$emulator_image" --build-arg "PYTHON_HOME=$python_home" --build-arg "VENV=$venv" "$ctx" \
    >"$cache/mongo-emulator-build.log" 2>&1 \
    || { tail -n 20 "$cache/mongo-emulator-build.log" >&2; die "docker build of $emulator_image failed: see $cache/mongo-emulator-build.log"; }
  rm -rf "$ctx"
}

report_skipped() {
  if [ -n "$mongo_image" ] && ! image_exists "$mongo_image"; then
    log "$mongo_image: not pulled; deploy/compose/standins.yml runs $emulator_image in its place"
  fi
  if [ -n "$jaeger_image" ] && ! image_exists "$jaeger_image"; then
    log "$jaeger_image: not pulled; deploy/compose/standins.yml runs the tests' OTLP receiver in its place"
  fi
}

build_runtime() {
  if image_exists "$runtime_image" && [ "$rebuild" = 0 ]; then
    log "$runtime_image: exists, kept (--rebuild builds it again)"
    return
  fi
  log "$runtime_image: $debian_image + the runtime stage's packages (for the container tests)"
  DOCKER_BUILDKIT=0 docker build -t "$runtime_image" -f "$standins/runtime.Dockerfile" deploy >"$cache/runtime-build.log" 2>&1 \
    || { tail -n 20 "$cache/runtime-build.log" >&2; die "docker build of $runtime_image failed: see $cache/runtime-build.log"; }
}

# What the image is built from: the commit's tree and any uncommitted change.
source_id() {
  { git rev-parse 'HEAD^{tree}' 2>/dev/null || echo no-git; git diff HEAD 2>/dev/null; } | sha256sum | cut -c1-16
}

build_dorafleet() {
  local wanted built
  wanted=$(source_id)
  built=$(docker image inspect --format '{{index .Config.Labels "org.dorafleet.source"}}' dorafleet:local 2>/dev/null || true)
  if [ "$built" = "$wanted" ] && [ "$rebuild" = 0 ]; then
    log "dorafleet:local: built from these sources ($wanted), kept (--rebuild builds it again)"
    return
  fi
  log "dorafleet:local: ${buildkit_build[*]} -t dorafleet:local . (the Dockerfile unchanged; a release build of sources $wanted)"
  "${buildkit_build[@]}" --progress=plain --label "org.dorafleet.source=$wanted" -t dorafleet:local . >"$cache/dorafleet-build.log" 2>&1 \
    || { tail -n 30 "$cache/dorafleet-build.log" >&2; die "building dorafleet:local failed: see $cache/dorafleet-build.log"; }
}

# --- main ---------------------------------------------------------------------

mkdir -p "$cache"
command -v docker >/dev/null 2>&1 || ensure_debian_packages docker.io
DOCKERD_LOG=$cache/dockerd.log ensure_docker || die "no Docker engine (above)"
find_buildkit_client
timed "$debian_image" build_debian
timed "$rust_image" build_rust
if [ -n "$frontend_image" ]; then timed "$frontend_image" build_frontend; fi
timed "$rabbitmq_image" build_rabbitmq
timed "$runtime_image" build_runtime
timed "$emulator_image" build_mongo_emulator
report_skipped
if [ "$build_dorafleet" = 1 ]; then timed dorafleet:local build_dorafleet; fi

log "time per image"
printf '  %s\n' "${timings[@]}" >&2
log "docker images"
images=("$debian_image" "$rust_image" "$frontend_image" "$rabbitmq_image" "$mongo_image" "$jaeger_image" "$runtime_image" "$emulator_image" dorafleet:local)
docker images --format '{{.Repository}}:{{.Tag}}\t{{.ID}}\t{{.Size}}' | while IFS=$'\t' read -r name id size; do
  for want in "${images[@]}"; do
    if [ "$name" = "$want" ]; then printf '  %-36s %s  %s\n' "$name" "$id" "$size"; fi
  done
done
