# Shared by the bench scripts, which source it: ROOT (the checkout) and
# the tools they need, installed from Debian's packages or built when
# missing.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BACKUPCTL=${BACKUPCTL:-$ROOT/bin/backupctl}
# Both tools' repositories in a bench have one password.
export RESTIC_PASSWORD=backupbot-bench-pw BACKUPBOT_REPO_PASSWORD=backupbot-bench-pw

# need_restic installs restic when it is not on the PATH.
need_restic() {
  command -v restic > /dev/null && return
  echo "installing restic from Debian's packages ..." >&2
  apt-get install -y restic > /dev/null || { echo "bench: cannot install restic" >&2; exit 1; }
}

# need_time installs GNU time (/usr/bin/time -v reports the peak RSS).
need_time() {
  command -v /usr/bin/time > /dev/null || apt-get install -y time > /dev/null
}

# need_backupctl builds $BACKUPCTL (default bin/backupctl) when it is not there.
need_backupctl() {
  [[ -x $BACKUPCTL ]] || (cd "$ROOT" && mkdir -p bin && go build -o bin/backupctl ./cmd/backupctl) || exit 1
}
