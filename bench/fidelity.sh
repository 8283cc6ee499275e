#!/usr/bin/env bash
# What backupctl and restic keep of every file kind (`BENCH_ONLY=fidelity make bench`, root):
# one row per property (hard links, xattrs, ACLs, capabilities, FIFO, devices, sparse holes,
# special modes, foreign owners, nanosecond mtimes, the parent directory restore --to makes).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
need_tools
mkdir -p bin && go build -o bin/backupctl ./cmd/backupctl || exit 1
go run ./bench/fidelity -backupctl bin/backupctl
