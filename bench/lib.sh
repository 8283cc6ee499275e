# Shared by the benchmark scripts in this directory (sourced, never run): where the
# checkout is, the backupctl binary they measure, the password of every bench
# repository, and the tools they need, installed or built on first use.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BACKUPCTL=${BACKUPCTL:-$ROOT/bin/backupctl}
export RESTIC_PASSWORD=backupbot-bench-pw BACKUPBOT_REPO_PASSWORD=backupbot-bench-pw

# need_tools: installs restic (scripts/services/restic.sh) and GNU time from Debian
# when they are missing, and builds $BACKUPCTL when it is not there; exits the
# script when it cannot.
need_tools() {
  command -v restic > /dev/null || eval "$(bash "$ROOT/scripts/services/restic.sh" start)" || exit 1
  command -v /usr/bin/time > /dev/null || apt-get install -y time > /dev/null
  if [[ ! -x $BACKUPCTL ]]; then
    (cd "$ROOT" && mkdir -p bin && go build -o bin/backupctl ./cmd/backupctl) || exit 1
  fi
}
