# Stand-in for the official rabbitmq:<version>-management (scripts/build-images.sh):
# Debian's rabbitmq-server (3.10) with the management plugin; the entrypoint
# honours RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS as the official one does.
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && rabbitmq-plugins enable --offline rabbitmq_management
COPY rabbitmq-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/rabbitmq
EXPOSE 5672 15672
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["rabbitmq-server"]
