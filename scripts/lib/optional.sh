# Optional outside helpers: tools that live outside this repository and that
# some suites use when they are present. A user's fresh clone has none of
# them and still passes; every suite that needs one says that it skipped.
# This file is the only place that names a path outside the repository
# (scripts/check-standalone.sh holds every other file to that).
# Sourced, after scripts/lib/setup.sh.

# The workspace this project's CI lays out beside the clone.
optional_shared_dir() {
  local dir="${DORAFLEET_SHARED_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared}"
  [ -d "$dir" ] && (cd "$dir" && pwd)
}

# The folder of the MongoDB wire-protocol emulator (DORAFLEET_MONGO_EMULATOR,
# else the workspace's tools), when it is there.
optional_mongo_emulator_dir() {
  local shared emulator
  shared=$(optional_shared_dir) || shared=""
  emulator="${DORAFLEET_MONGO_EMULATOR:-${shared:+$shared/tools/mongo-emulator}}"
  [ -n "$emulator" ] && [ -x "$emulator/start.sh" ] && (cd "$emulator" && pwd)
}

# The MongoDB wire-protocol emulator (a Python program; needs CPython >= 3.13).
# When it is present and MONGODB_URI is not already set, start it on a free
# port, export MONGODB_URI for the MongoDB suites and stop it when the calling
# script exits. Without it the MongoDB suites print why they skipped.
MONGO_EMULATOR_PID=""
start_optional_mongo_emulator() {
  if [ -n "${MONGODB_URI:-}" ]; then
    log "MONGODB_URI is set: the MongoDB suites run against $MONGODB_URI"
    return 0
  fi
  local emulator
  emulator=$(optional_mongo_emulator_dir) || emulator=""
  if [ -z "$emulator" ]; then
    log "optional: no MongoDB emulator found (set DORAFLEET_MONGO_EMULATOR=DIR or MONGODB_URI); the MongoDB suites will say they skipped"
    return 0
  fi
  local port workdir uri
  port=$(free_local_port)
  workdir=$(mktemp -d -t dorafleet-mongo-emulator.XXXXXX)
  log "optional: starting the MongoDB emulator from $emulator on 127.0.0.1:$port (log: $workdir/mongo-emulator.log)"
  if ! uri=$(cd "$workdir" && "$emulator/start.sh" "$port"); then
    log "optional: the MongoDB emulator did not start (see $workdir/mongo-emulator.log); the MongoDB suites will say they skipped"
    return 0
  fi
  MONGO_EMULATOR_PID=$(cat "$workdir/mongo-emulator.pid")
  trap stop_optional_mongo_emulator EXIT
  export MONGODB_URI="$uri"
  log "optional: MongoDB emulator up (pid $MONGO_EMULATOR_PID): MONGODB_URI=$MONGODB_URI — results on it are the emulator's, not a real replica set's"
}

stop_optional_mongo_emulator() {
  if [ -n "$MONGO_EMULATOR_PID" ]; then
    kill "$MONGO_EMULATOR_PID" 2>/dev/null || true
    MONGO_EMULATOR_PID=""
  fi
}

# A TCP port nothing listens on right now (the kernel picks it).
free_local_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
