# One image for every role: the `dorafleet` binary is the entrypoint and the
# role is the command (`docker run IMAGE worker`, `... coordinator`, ...).
#
#   docker build -t dorafleet:local .
#
# The builder keeps cargo's registry and target directory in BuildKit cache
# mounts, so a rebuild after a source change recompiles only what changed.
#
# No `# syntax=` line: the cache mounts and `COPY --chmod` are understood by
# the Dockerfile frontend built into BuildKit (Docker 20.10 and later), so a
# build needs no frontend image from a registry (air-gapped machines build
# it as they are).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
# native-tls links OpenSSL: the headers and pkg-config to find them. Package
# versions follow the base image's Debian release (pinning them would break
# the build whenever the archive moves on).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mounts are not part of the image, so the binary is copied out of
# the target directory before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p dorafleet \
 && install -D -m 0755 target/release/dorafleet /out/dorafleet

FROM debian:bookworm-slim AS runtime
# ca-certificates for HTTPS to the source APIs, libssl3 for native-tls.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 dorafleet \
 && useradd --system --uid 10001 --gid dorafleet --home-dir /var/lib/dorafleet \
      --create-home --shell /usr/sbin/nologin dorafleet
# glibc gives each thread that allocates its own heap arena, up to 8 per
# core, and memory freed in one arena is not reused by the others. A worker's
# threads (the runtime's and the warehouse's blocking pool) kept a worker at
# 55-70 MB peak resident (4 arenas: 51-53 MB, 8: 55-56 MB); with 2 it stays
# under 50 MB, with no change in CPU per task (`scripts/bench.sh workers`).
ENV MALLOC_ARENA_MAX=2
COPY --from=builder /out/dorafleet /usr/local/bin/dorafleet
COPY --chmod=0755 deploy/http-probe /usr/local/bin/http-probe
# A writable working directory for the embedded mode (`dorafleet demo` writes
# its SQLite warehouse under ./.dorafleet); the fleet keeps its state in
# MongoDB and RabbitMQ.
WORKDIR /var/lib/dorafleet
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/dorafleet"]
CMD ["--help"]
