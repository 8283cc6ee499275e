#!/bin/sh
# console COMMAND... : send one line to a running backupbot's console socket and print what the
# console shows for CONSOLE_WAIT seconds (default 30; job threads keep posting after the ack).
#   docker compose exec bot console '/backup create --target data'
#   kubectl exec deploy/backupbot-bot -- console '/backup list'
# With no COMMAND, an interactive session (Ctrl-D to leave).
set -eu
SOCK=${BACKUPBOT_CONSOLE_SOCKET:-/var/lib/backupbot/console.sock}
[ -S "$SOCK" ] || { echo "console: no console socket at $SOCK (start the bot with --console-socket $SOCK)" >&2; exit 1; }
if [ $# -eq 0 ]; then
  exec socat - "UNIX-CONNECT:$SOCK"
fi
printf '%s\n' "$*" | socat -t "${CONSOLE_WAIT:-30}" - "UNIX-CONNECT:$SOCK"
