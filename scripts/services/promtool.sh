#!/usr/bin/env bash
# promtool for `make test` (alerts tests lint /metrics and run the shipped
# alert rules): start installs it from Debian's prometheus package on first
# use; there is no server to run, so stop does nothing. Prints an `export`
# line on start, like the other services.
set -euo pipefail

case ${1:-} in
start)
  if ! command -v promtool >/dev/null 2>&1; then
    echo "promtool.sh: installing promtool (Debian package prometheus)" >&2
    (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus) >&2
  fi
  command -v promtool >/dev/null 2>&1 || { echo "promtool.sh: promtool is still missing after installing prometheus" >&2; exit 1; }
  echo "export BACKUPBOT_TEST_PROMTOOL=$(command -v promtool)"
  ;;
stop) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
