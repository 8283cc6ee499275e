#!/usr/bin/env bash
# Test-owned Redis for `make test`: start|stop. Prints `export` lines on start.
# Port: $BACKUPBOT_TEST_REDIS_PORT (default 16379), never the machine's 6379.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${BACKUPBOT_TEST_REDIS_PORT:-16379}
DIR=$STATE/redis
mkdir -p "$DIR"

install() {
  command -v redis-server >/dev/null 2>&1 && return
  apt_install redis-server redis-server
}

ping() { redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; }

case ${1:-} in
start)
  install
  if ! ping; then
    redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
      --dir "$DIR" --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" >&2
    await ping 100 redis-server "$DIR/redis.log"
    mark_started
  fi
  echo "export BACKUPBOT_TEST_REDIS_URL=redis://127.0.0.1:$PORT/0"
  echo "export BACKUPBOT_TEST_REDIS_SERVER=$(command -v redis-server)"
  ;;
stop)
  halt() { redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; }
  stop_started halt
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
