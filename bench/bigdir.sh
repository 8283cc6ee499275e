#!/usr/bin/env bash
# Directories of any size (`BENCH_ONLY=bigdir make bench`): backupctl against restic on
#   many   - one directory of BIGDIR_ENTRIES (default 1,000,000) empty files
#   long   - one directory of BIGDIR_LONG (default 100,000) files with 240-byte names
# Both listings are far over one blob's 16 MiB limit (that used to make an unrestorable
# snapshot). For each tree and tool: a full backup and a restore into an empty directory
# (checked: the same number of entries and the same names). Prints wall time and peak RSS
# (/usr/bin/time -v) per step, and the load average, since the machine may be shared.
# Env: WORK (default /tmp/backupbot-bigdir), KEEP=1 keeps everything, BACKUPCTL.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WORK=${WORK:-/tmp/backupbot-bigdir}
MANY=${BIGDIR_ENTRIES:-1000000}
LONG=${BIGDIR_LONG:-100000}
export RESTIC_CACHE_DIR=$WORK/cache/restic

need_restic
need_time
need_backupctl
rm -rf "$WORK"; mkdir -p "$WORK"
LOG=$WORK/bigdir.log; : > "$LOG"
pad=$(printf 'n%.0s' $(seq 1 233))

make_tree() { # dir count long
  mkdir -p "$1"
  if [[ $3 == long ]]; then
    (cd "$1" && seq -f "%07g-$pad" 1 "$2" | xargs touch)
  else
    (cd "$1" && seq -f "f%07g" 1 "$2" | xargs touch)
  fi
}

rc=0
printf "%-6s %-10s %-8s %9s %9s  %s\n" tree tool step wall_s rss_MiB ok
run() { # tree tool step command...
  local tree=$1 tool=$2 step=$3; shift 3
  local tf=$WORK/time.$$ t0 t1 code
  echo "=== $tree $tool $step: $*" >> "$LOG"
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$tf" "$@" >> "$LOG" 2>&1; code=$?
  t1=$(date +%s.%N)
  local rss ok=ok
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tf")
  [[ $code == 0 ]] || { ok="FAIL(rc=$code)"; rc=1; }
  if [[ $step == restore && $code == 0 ]]; then
    local src=$WORK/$tree/data/big got=$WORK/restore-$tree-$tool$WORK/$tree/data/big
    if ! diff -q <(ls -f "$src" | sort) <(ls -f "$got" | sort) >> "$LOG" 2>&1; then ok=MISMATCH; rc=1; fi
  fi
  printf "%-6s %-10s %-8s %9.1f %9s  %s\n" "$tree" "$tool" "$step" "$(awk -v a="$t0" -v z="$t1" 'BEGIN{print z-a}')" "$rss" "$ok"
  rm -f "$tf"
}

for tree in many long; do
  count=$MANY; [[ $tree == long ]] && count=$LONG
  echo "generating $tree: $count entries ..." >&2
  make_tree "$WORK/$tree/data/big" "$count" "$tree"
  cfg=$WORK/$tree/backupbot.yaml
  printf "storages:\n  bench: {type: local, path: %s}\ntargets:\n  big: {paths: [%s]}\n" "$WORK/$tree/repo-backupctl" "$WORK/$tree/data" > "$cfg"
  export RESTIC_REPOSITORY=$WORK/$tree/repo-restic
  restic init -q --repository-version 2 >> "$LOG" 2>&1
  sync
  run "$tree" restic backup restic backup -q "$WORK/$tree/data"
  run "$tree" backupctl backup "$BACKUPCTL" --config "$cfg" create --type full --target big --storage bench
  run "$tree" restic restore restic restore -q latest --target "$WORK/restore-$tree-restic"
  run "$tree" backupctl restore "$BACKUPCTL" --config "$cfg" restore --name latest --target big --storage bench --to "$WORK/restore-$tree-backupctl"
  [[ ${KEEP:-} == 1 ]] || rm -rf "$WORK/restore-$tree-restic" "$WORK/restore-$tree-backupctl" "$WORK/$tree"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
[[ ${KEEP:-} == 1 ]] || rm -rf "$WORK"
exit $rc
