#!/usr/bin/env bash
# Test-owned MariaDB for `make test`: start|stop. Prints `export` lines on start.
# Port: $BACKUPBOT_TEST_MARIADB_PORT (default 13306), never the machine's 3306.
# The data directory is $BACKUPBOT_TEST_STATE/mariadb/data (owned by the system
# user mysql; the server drops to it). The server reads no my.cnf (--no-defaults),
# so the machine's own MariaDB settings never leak in. Tests connect over TCP as
# backupbot_test (no password, all privileges with grant option), which may
# create password-protected users of its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${BACKUPBOT_TEST_MARIADB_PORT:-13306}
DIR=$STATE/mariadb
DATA=$DIR/data
SOCK=$DIR/mysqld.sock
PIDFILE=$DIR/mariadbd.pid
RUNAS=mysql
TEST_USER=backupbot_test

server() { command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -n 1; }

install_pkg() {
  [[ -n $(server) ]] && command -v mariadb-install-db >/dev/null 2>&1 && return
  apt_install mariadb-server mariadb-server mariadb-client
  [[ -n $(server) ]] || die "mariadb-server installed but no mariadbd found"
}

# as root over the server's own socket: the one way in before the test user exists.
admin_sql() { mariadb --no-defaults --socket="$SOCK" -u root -e "$1"; }

ready() { mariadb-admin --no-defaults --socket="$SOCK" -u root --connect-timeout=2 ping >/dev/null 2>&1; }

init() {
  [[ -d $DATA/mysql ]] && return
  echo "mariadb.sh: creating a test data directory in $DATA" >&2
  rm -rf "$DATA"
  install -d -o "$RUNAS" -m 0750 "$DATA"
  mariadb-install-db --no-defaults --user="$RUNAS" --datadir="$DATA" \
    --auth-root-authentication-method=normal --skip-test-db >"$DIR/install-db.log" 2>&1 \
    || { cat "$DIR/install-db.log" >&2; rm -rf "$DATA"; exit 1; }
}

case ${1:-} in
start)
  install_pkg
  mkdir -p "$DIR"
  chown "$RUNAS": "$DIR"
  if ! ready; then
    init
    rm -f "$SOCK" "$PIDFILE"
    # setsid + no inherited stdout: the server outlives this script and
    # `$(mariadb.sh start)` returns.
    setsid "$(server)" --no-defaults --user="$RUNAS" --datadir="$DATA" \
      --port="$PORT" --bind-address=127.0.0.1 --socket="$SOCK" --pid-file="$PIDFILE" \
      --log-error="$DIR/mariadbd.log" --skip-log-bin --performance-schema=OFF \
      --innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
      --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --skip-name-resolve \
      </dev/null >>"$DIR/mariadbd.log" 2>&1 &
    await ready 300 "the server" "$DIR/mariadbd.log"
    mark_started
  fi
  admin_sql "CREATE USER IF NOT EXISTS '$TEST_USER'@'%';
    GRANT ALL PRIVILEGES ON *.* TO '$TEST_USER'@'%' WITH GRANT OPTION;" >&2
  echo "export BACKUPBOT_TEST_MARIADB_HOST=127.0.0.1"
  echo "export BACKUPBOT_TEST_MARIADB_PORT=$PORT"
  echo "export BACKUPBOT_TEST_MARIADB_USER=$TEST_USER"
  echo "export BACKUPBOT_TEST_MARIADB_BIN=$(dirname "$(command -v mariadb-dump || command -v mysqldump)")"
  ;;
stop)
  halt() {
    if ! mariadb-admin --no-defaults --socket="$SOCK" -u root shutdown >&2 2>/dev/null; then
      [[ -f $PIDFILE ]] && kill "$(cat "$PIDFILE")" 2>/dev/null || true
    fi
    for _ in $(seq 1 100); do [[ -e $PIDFILE ]] || break; sleep 0.1; done
  }
  stop_started halt
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
