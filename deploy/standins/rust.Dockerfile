# Stand-in for the official rust:<version>-bookworm (scripts/build-images.sh):
# the debian:bookworm-slim stand-in, a C toolchain for build scripts and
# linking, and the host's rustup toolchain copied into the context (nothing
# is downloaded). Same layout as the official image: RUSTUP_HOME, CARGO_HOME,
# PATH.
FROM debian:bookworm-slim
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev make git curl \
 && rm -rf /var/lib/apt/lists/*
COPY rustup /usr/local/rustup
COPY cargo /usr/local/cargo
RUN rustc --version && cargo --version
