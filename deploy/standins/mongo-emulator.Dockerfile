# dorafleet-standin/mongo-emulator:local (scripts/build-images.sh): the MongoDB
# wire-protocol emulator the tests use, in a container, standing in for
# mongo:8.0 where that image cannot be pulled (deploy/compose/standins.yml).
# The context holds the host's CPython and the emulator's virtualenv, copied
# to the paths they were built for (a virtualenv names its interpreter by
# path, and the interpreter finds its library by path), and
# the emulator's files; the packages are the shared libraries that CPython's
# modules load. It is an emulator, not MongoDB: see its README.
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libffi8 zlib1g libbz2-1.0 liblzma5 \
      libsqlite3-0 libreadline8 libncursesw6 libuuid1 libgdbm6 \
 && rm -rf /var/lib/apt/lists/*
ARG PYTHON_HOME
ARG VENV
COPY python/ ${PYTHON_HOME}/
COPY venv/ ${VENV}/
COPY emulator/ /opt/mongo-emulator/
ENV EMULATOR_VENV=${VENV}
EXPOSE 27017
ENTRYPOINT ["/bin/sh", "-c", "exec \"$EMULATOR_VENV/bin/python\" /opt/mongo-emulator/serve.py \"$@\"", "serve.py"]
CMD ["--host", "0.0.0.0", "--port", "27017", "--replset", "rs0"]
