#!/usr/bin/env bash
# Test-owned S3 server (versitygw over a scratch directory) for `make test`: start|stop.
# Prints `export` lines on start. Port: $BACKUPBOT_TEST_S3_PORT (default 17070).
# The access key pair is a fixed, test-only pair; it protects nothing but this scratch server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
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
    spawn "$DIR/versitygw.pid" "$DIR/versitygw.log" env ROOT_ACCESS_KEY_ID="$ACCESS_KEY" \
      ROOT_SECRET_ACCESS_KEY="$SECRET_KEY" "$BIN" --port "127.0.0.1:$PORT" --quiet posix "$DIR/root"
    await answers 100 versitygw "$DIR/versitygw.log" "$DIR/versitygw.pid"
    mark_started
  fi
  echo "export BACKUPBOT_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT"
  echo "export BACKUPBOT_TEST_S3_ACCESS_KEY=$ACCESS_KEY"
  echo "export BACKUPBOT_TEST_S3_SECRET_KEY=$SECRET_KEY"
  echo "export BACKUPBOT_TEST_S3_REGION=us-east-1"
  ;;
stop)
  halt() { kill_pidfile "$DIR/versitygw.pid"; rm -rf "$DIR/root"; }
  stop_started halt
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
