#!/usr/bin/env bash
# Test-owned S3 server (versitygw over a scratch directory) for `make test`: start|stop.
# Prints `export` lines on start. Port: $BACKUPBOT_TEST_S3_PORT (default 17070).
# The access key pair is a fixed, test-only pair; it protects nothing but this scratch server.
set -euo pipefail
STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
PORT=${BACKUPBOT_TEST_S3_PORT:-17070}
DIR=$STATE/s3
ACCESS_KEY=backupbot-test
SECRET_KEY=backupbot-test-secret-not-a-real-one
VERSITYGW_VERSION=v1.8.0
BIN_DIR=$(go env GOBIN)
[[ -n $BIN_DIR ]] || BIN_DIR=$(go env GOPATH | cut -d: -f1)/bin
BIN=$BIN_DIR/versitygw
mkdir -p "$DIR/root"

install() {
  [[ -x $BIN ]] && return
  echo "s3.sh: installing versitygw $VERSITYGW_VERSION with go install (first run only)" >&2
  go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
}

# Any HTTP answer (versitygw says 403 to an unsigned request) means it is up.
answers() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/"; }

case ${1:-} in
start)
  install
  if ! answers; then
    ROOT_ACCESS_KEY_ID=$ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$SECRET_KEY \
      setsid "$BIN" --port "127.0.0.1:$PORT" --quiet posix "$DIR/root" \
      > "$DIR/versitygw.log" 2>&1 < /dev/null &
    echo $! > "$DIR/versitygw.pid"
    for _ in $(seq 1 100); do answers && break; sleep 0.1; done
    answers || { echo "s3.sh: versitygw did not answer on port $PORT (see $DIR/versitygw.log)" >&2; exit 1; }
    touch "$DIR/started-by-us"
  fi
  echo "export BACKUPBOT_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT"
  echo "export BACKUPBOT_TEST_S3_ACCESS_KEY=$ACCESS_KEY"
  echo "export BACKUPBOT_TEST_S3_SECRET_KEY=$SECRET_KEY"
  echo "export BACKUPBOT_TEST_S3_REGION=us-east-1"
  ;;
stop)
  if [[ -f $DIR/started-by-us ]]; then
    pid=$(cat "$DIR/versitygw.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$DIR/started-by-us" "$DIR/versitygw.pid"
    rm -rf "$DIR/root"
  fi
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
