#!/usr/bin/env bash
# restic for `make test`: start|stop. restic is no server: `start` installs it from Debian on
# first use (the retention tests compare our forget rules with `restic forget --dry-run`), and
# prints the export line the tests may read. `stop` has nothing to stop. Idempotent.
set -euo pipefail
STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
DIR=$STATE/restic
mkdir -p "$DIR"

install() {
  command -v restic >/dev/null 2>&1 && return
  echo "restic.sh: installing restic from Debian" >&2
  (apt-get install -y -qq restic || (apt-get update -qq && apt-get install -y -qq restic)) >&2
  touch "$DIR/started-by-us"
}

case ${1:-} in
start)
  install
  command -v restic >/dev/null 2>&1 || { echo "restic.sh: restic is not installed and could not be" >&2; exit 1; }
  echo "export BACKUPBOT_TEST_RESTIC=$(command -v restic)"
  ;;
stop) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
