#!/usr/bin/env bash
# Test-owned Samba (smbd) for `make test`: start|stop. Prints `export` lines on start.
# Port: $BACKUPBOT_TEST_SMB_PORT (default 14445), never the machine's 445. Its own smb.conf,
# passdb, lock, state and share directories live in $BACKUPBOT_TEST_STATE/samba; the share
# `backups` is writable by the test user `backupbot` (a system account this script adds once,
# since Samba maps every SMB user to a Unix one). The password is a fixed test password.
set -euo pipefail
STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
PORT=${BACKUPBOT_TEST_SMB_PORT:-14445}
DIR=$STATE/samba
SMB_USER=backupbot
SMB_PASSWORD=backupbot-test-password
SHARE=backups
mkdir -p "$DIR"

install() {
  command -v smbd >/dev/null 2>&1 && command -v smbpasswd >/dev/null 2>&1 && return
  echo "samba.sh: installing samba from Debian" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samba) >&2
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

configure() {
  mkdir -p "$DIR"/{run,lock,state,cache,private,ncalrpc,share}
  id "$SMB_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$SMB_USER"
  chown "$SMB_USER" "$DIR/share"
  chmod 700 "$DIR/share"
  cat > "$DIR/smb.conf" <<CONF
[global]
  server role = standalone server
  workgroup = WORKGROUP
  netbios name = BACKUPBOTTEST
  smb ports = $PORT
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  server min protocol = SMB2_10
  pid directory = $DIR/run
  lock directory = $DIR/lock
  state directory = $DIR/state
  cache directory = $DIR/cache
  private dir = $DIR/private
  ncalrpc dir = $DIR/ncalrpc
  passdb backend = tdbsam:$DIR/private/passdb.tdb
  log file = $DIR/smbd.log
  log level = 1
  map to guest = never
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  rpc_server:spoolss = disabled

[$SHARE]
  path = $DIR/share
  read only = no
  valid users = $SMB_USER
  create mask = 0600
  directory mask = 0700
CONF
  printf '%s\n%s\n' "$SMB_PASSWORD" "$SMB_PASSWORD" | smbpasswd -c "$DIR/smb.conf" -s -a "$SMB_USER" >/dev/null
}

case ${1:-} in
start)
  install
  if ! answers; then
    configure
    setsid smbd --foreground --no-process-group --debug-stdout -s "$DIR/smb.conf" \
      > "$DIR/smbd.out" 2>&1 < /dev/null &
    echo $! > "$DIR/smbd.pid"
    pid=$(cat "$DIR/smbd.pid")
    for _ in $(seq 1 200); do
      answers && break
      kill -0 "$pid" 2>/dev/null || { echo "samba.sh: smbd exited at start: $(tail -n 3 "$DIR/smbd.out")" >&2; exit 1; }
      sleep 0.1
    done
    answers || { echo "samba.sh: smbd did not answer on port $PORT within 20 s (see $DIR/smbd.out)" >&2; exit 1; }
    touch "$DIR/started-by-us"
  fi
  echo "export BACKUPBOT_TEST_SMB_ADDR=127.0.0.1:$PORT"
  echo "export BACKUPBOT_TEST_SMB_SHARE=$SHARE"
  echo "export BACKUPBOT_TEST_SMB_USER=$SMB_USER"
  echo "export BACKUPBOT_TEST_SMB_PASSWORD=$SMB_PASSWORD"
  ;;
stop)
  if [[ -f $DIR/started-by-us ]]; then
    pid=$(cat "$DIR/smbd.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$DIR/started-by-us" "$DIR/smbd.pid"
  fi
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
