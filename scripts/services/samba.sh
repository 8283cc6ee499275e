#!/usr/bin/env bash
# Test-owned Samba (smbd) for `make test`: start|stop. Prints `export` lines on start.
# Port: $BACKUPBOT_TEST_SMB_PORT (default 14445), never the machine's 445. Its own smb.conf,
# passdb, lock, state and share directories live in $BACKUPBOT_TEST_STATE/samba; the share
# `backups` is writable by the test user `backupbot` (a system account this script adds once,
# since Samba maps every SMB user to a Unix one). The password is a fixed test password.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${BACKUPBOT_TEST_SMB_PORT:-14445}
DIR=$STATE/samba
SMB_USER=backupbot
SMB_PASSWORD=backupbot-test-password
SHARE=backups
mkdir -p "$DIR"

install() {
  command -v smbd >/dev/null 2>&1 && command -v smbpasswd >/dev/null 2>&1 && return
  apt_install samba samba
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
    spawn "$DIR/smbd.pid" "$DIR/smbd.out" smbd --foreground --no-process-group --debug-stdout -s "$DIR/smb.conf"
    await answers 200 smbd "$DIR/smbd.out" "$DIR/smbd.pid"
    mark_started
  fi
  echo "export BACKUPBOT_TEST_SMB_ADDR=127.0.0.1:$PORT"
  echo "export BACKUPBOT_TEST_SMB_SHARE=$SHARE"
  echo "export BACKUPBOT_TEST_SMB_USER=$SMB_USER"
  echo "export BACKUPBOT_TEST_SMB_PASSWORD=$SMB_PASSWORD"
  ;;
stop)
  stop_started kill_pidfile "$DIR/smbd.pid"
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
