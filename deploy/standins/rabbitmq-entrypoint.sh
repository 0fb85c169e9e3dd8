#!/bin/sh
# Entrypoint of the rabbitmq stand-in: listeners on every interface, the
# default user from the environment (created on the node's first boot), then
# the server in the foreground (Debian's wrapper drops to the rabbitmq user).
set -eu
if [ "${1:-}" = rabbitmq-server ]; then
  {
    echo "listeners.tcp.default = 5672"
    echo "management.tcp.port = 15672"
    echo "loopback_users = none"
    if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = $RABBITMQ_DEFAULT_USER"; fi
    if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = $RABBITMQ_DEFAULT_PASS"; fi
  } >/etc/rabbitmq/rabbitmq.conf
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
fi
exec "$@"
