#!/usr/bin/env bash
# Test-owned PostgreSQL for `make test`: start|stop. Prints `export` lines on start.
# Port: $BACKUPBOT_TEST_PG_PORT (default 15432), never the machine's 5432.
# The cluster lives in $BACKUPBOT_TEST_STATE/postgres (owned by the system user
# postgres, since the server refuses to run as root). Authentication: trust on
# 127.0.0.1 for every role except backupbot_pw, which must give its password
# (scram-sha-256), so tests can check a real password and a wrong one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${BACKUPBOT_TEST_PG_PORT:-15432}
DIR=$STATE/postgres
DATA=$DIR/data
RUNAS=postgres

bindir() {
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  [[ -n $initdb ]] && dirname "$initdb"
}

install_pkg() {
  [[ -n $(bindir) ]] && return
  apt_install postgresql postgresql
  [[ -n $(bindir) ]] || die "postgresql installed but no initdb under /usr/lib/postgresql"
}

as_pg() { runuser -u "$RUNAS" -- "$@"; }

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; }

init() {
  [[ -f $DATA/PG_VERSION ]] && return
  echo "postgres.sh: creating a test cluster in $DATA" >&2
  rm -rf "$DATA"
  install -d -o "$RUNAS" -m 0700 "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=trust \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; rm -rf "$DATA"; exit 1; }
  # First match wins: the password role is checked before the trust lines.
  local hba=$DATA/pg_hba.conf
  { echo "host all backupbot_pw 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new"
  mv "$hba.new" "$hba"
  chown "$RUNAS": "$hba"
}

case ${1:-} in
start)
  install_pkg
  BIN=$(bindir)
  mkdir -p "$DIR"
  chown "$RUNAS": "$DIR"
  if ! ready; then
    init
    # pg_ctl detaches the server (setsid); its output goes to the log, not
    # to our stdout, so `$(postgres.sh start)` returns.
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIR/postgres.log" -w -t 60 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start </dev/null >&2 \
      || die "the server did not start on port $PORT (see $DIR/postgres.log)"
    await ready 100 "the server" "$DIR/postgres.log"
    mark_started
  fi
  echo "export BACKUPBOT_TEST_PG_HOST=127.0.0.1"
  echo "export BACKUPBOT_TEST_PG_PORT=$PORT"
  echo "export BACKUPBOT_TEST_PG_USER=postgres"
  echo "export BACKUPBOT_TEST_PG_BIN=$BIN"
  ;;
stop)
  halt() { as_pg "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true; }
  stop_started halt
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
