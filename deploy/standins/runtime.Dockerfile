# dorafleet-runtime:bookworm (scripts/build-images.sh): the Dockerfile's
# runtime stage without the binary. The container tests in tests/ mount the
# binary their own build made into it, so every run exercises the code under
# test without a release build per change; the packages are the runtime
# stage's, so what runs there runs in the image users get.
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY http-probe /usr/local/bin/http-probe
WORKDIR /var/lib/dorafleet
ENTRYPOINT []
CMD ["dorafleet", "--help"]
