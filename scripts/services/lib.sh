# Shared by the test-service scripts in this directory (sourced, never run): the
# start / wait / stop pattern each of them follows. A script sets DIR (its state
# directory, under $STATE) and PORT before it calls these. Messages name the
# script ($0).

# STATE holds the state directories of all test services.
STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}

# die MESSAGE: says MESSAGE on stderr, after the script's name, and exits 1.
die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# apt_install WHAT PACKAGE...: installs Debian packages, saying WHAT it installs.
apt_install() {
  echo "$(basename "$0"): installing $1 from Debian" >&2
  shift
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >&2
}

# spawn PIDFILE LOG COMMAND...: runs COMMAND in a session of its own, detached
# from this script's input and output (so `$(x.sh start)` returns while it runs
# on), its output in LOG, and writes its pid to PIDFILE.
spawn() {
  local pidfile=$1 log=$2
  shift 2
  setsid "$@" > "$log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

# await CHECK TENTHS WHAT LOG [PIDFILE]: runs CHECK every 0.1 s until it succeeds,
# TENTHS times at most, and exits the script saying that WHAT did not answer on
# $PORT (see LOG) when it never does. With PIDFILE, it exits at once, showing the
# end of LOG, when that process has exited.
await() {
  local check=$1 tries=$2 what=$3 log=$4 pid=""
  [[ -n ${5:-} ]] && pid=$(cat "$5")
  for _ in $(seq 1 "$tries"); do
    "$check" && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      die "$what exited at start: $(tail -n 3 "$log")"
    fi
    sleep 0.1
  done
  "$check" || die "$what did not answer on port $PORT within $((tries / 10)) s (see $log)"
}

# mark_started: records that this script started the server that now runs, so
# that stop stops it (and never one that something else started).
mark_started() { touch "$DIR/started-by-us"; }

# stop_started COMMAND...: when this script started the server, runs COMMAND to
# stop it and forgets that it did; otherwise does nothing.
stop_started() {
  [[ -f $DIR/started-by-us ]] || return 0
  "$@"
  rm -f "$DIR/started-by-us"
}

# kill_pidfile PIDFILE: stops the process whose pid PIDFILE holds (SIGTERM, then
# up to 5 s for it to go) and removes PIDFILE.
kill_pidfile() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$1"
}
