#!/usr/bin/env bash
# What backupctl and restic keep of every file kind (`BENCH_ONLY=fidelity make bench`, root):
# one row per property (hard links, xattrs, ACLs, capabilities, FIFO, devices, sparse holes,
# special modes, foreign owners, nanosecond mtimes, the parent directory restore --to makes).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
if ! command -v restic > /dev/null; then
  echo "installing restic from Debian's packages ..." >&2
  apt-get install -y restic > /dev/null || { echo "bench: cannot install restic" >&2; exit 1; }
fi
mkdir -p bin && go build -o bin/backupctl ./cmd/backupctl || exit 1
go run ./bench/fidelity -backupctl bin/backupctl
