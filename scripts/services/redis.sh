#!/usr/bin/env bash
# Test-owned Redis for `make test`: start|stop. Prints `export` lines on start.
# Port: $BACKUPBOT_TEST_REDIS_PORT (default 16379), never the machine's 6379.
set -euo pipefail
STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
PORT=${BACKUPBOT_TEST_REDIS_PORT:-16379}
DIR=$STATE/redis
mkdir -p "$DIR"

install() {
  command -v redis-server >/dev/null 2>&1 && return
  echo "redis.sh: installing redis-server from Debian" >&2
  (apt-get update -qq && apt-get install -y -qq redis-server) >&2
}

ping() { redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; }

case ${1:-} in
start)
  install
  if ! ping; then
    redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
      --dir "$DIR" --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" >&2
    for _ in $(seq 1 100); do ping && break; sleep 0.1; done
    ping || { echo "redis.sh: redis-server did not answer on port $PORT (see $DIR/redis.log)" >&2; exit 1; }
    touch "$DIR/started-by-us"
  fi
  echo "export BACKUPBOT_TEST_REDIS_URL=redis://127.0.0.1:$PORT/0"
  echo "export BACKUPBOT_TEST_REDIS_SERVER=$(command -v redis-server)"
  ;;
stop)
  if [[ -f $DIR/started-by-us ]]; then
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -f "$DIR/started-by-us"
  fi
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
