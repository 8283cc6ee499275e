#!/usr/bin/env bash
# Test-owned Azure Blob emulator (Azurite, in memory) for `make test`: start|stop.
# Prints `export` lines on start. Port: $BACKUPBOT_TEST_AZURITE_PORT (default 10100), never 10000.
# The account and key are Azurite's published development account (devstoreaccount1), not a secret.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
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
    apt_install "nodejs and npm" nodejs npm
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
    spawn "$DIR/azurite.pid" "$DIR/azurite.log" "$BIN" --blobHost 127.0.0.1 --blobPort "$PORT" \
      --inMemoryPersistence --skipApiVersionCheck --disableTelemetry --loose --silent
    await answers 600 azurite "$DIR/azurite.log" "$DIR/azurite.pid"
    mark_started
  fi
  echo "export BACKUPBOT_TEST_AZURE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;BlobEndpoint=http://127.0.0.1:$PORT/$ACCOUNT;'"
  ;;
stop)
  stop_started kill_pidfile "$DIR/azurite.pid"
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
