#!/usr/bin/env bash
# Test-owned Azure Blob emulator (Azurite, in memory) for `make test`: start|stop.
# Prints `export` lines on start. Port: $BACKUPBOT_TEST_AZURITE_PORT (default 10100), never 10000.
# The account and key are Azurite's published development account (devstoreaccount1), not a secret.
set -euo pipefail
STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
PORT=${BACKUPBOT_TEST_AZURITE_PORT:-10100}
DIR=$STATE/azurite
AZURITE_VERSION=3.37.0
PREFIX=${XDG_CACHE_HOME:-$HOME/.cache}/backupbot/azurite
BIN=$PREFIX/node_modules/.bin/azurite-blob
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
mkdir -p "$DIR"

install() {
  [[ -x $BIN ]] && return
  if ! command -v npm >/dev/null 2>&1; then
    echo "azurite.sh: installing nodejs and npm from Debian" >&2
    (apt-get update -qq && apt-get install -y -qq nodejs npm) >&2
  fi
  echo "azurite.sh: installing azurite@$AZURITE_VERSION into $PREFIX (first run only)" >&2
  npm install --no-fund --no-audit --prefix "$PREFIX" "azurite@$AZURITE_VERSION" >&2
}

# Any HTTP answer means the blob service is listening.
answers() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/$ACCOUNT?comp=list"; }

case ${1:-} in
start)
  install
  if ! answers; then
    cd "$DIR"  # Azurite writes its small state files into the working directory
    setsid "$BIN" --blobHost 127.0.0.1 --blobPort "$PORT" --inMemoryPersistence \
      --skipApiVersionCheck --disableTelemetry --loose --silent \
      > "$DIR/azurite.log" 2>&1 < /dev/null &
    echo $! > "$DIR/azurite.pid"
    pid=$(cat "$DIR/azurite.pid")
    for _ in $(seq 1 600); do
      answers && break
      kill -0 "$pid" 2>/dev/null || { echo "azurite.sh: azurite exited at start: $(tail -n 3 "$DIR/azurite.log")" >&2; exit 1; }
      sleep 0.1
    done
    answers || { echo "azurite.sh: azurite did not answer on port $PORT within 60 s (see $DIR/azurite.log)" >&2; exit 1; }
    touch "$DIR/started-by-us"
  fi
  echo "export BACKUPBOT_TEST_AZURE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;BlobEndpoint=http://127.0.0.1:$PORT/$ACCOUNT;'"
  ;;
stop)
  if [[ -f $DIR/started-by-us ]]; then
    pid=$(cat "$DIR/azurite.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$DIR/started-by-us" "$DIR/azurite.pid"
  fi
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
