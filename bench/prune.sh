#!/usr/bin/env bash
# Prune beside restic (`BENCH_ONLY=prune make bench`): the same tree of PRUNE_FILES (default
# 1,000,000) small files with unique content (one blob each in both tools: restic's chunker
# does not cut below 512 KiB, ours keeps a small file whole), in PRUNE_DIRS directories, is
# backed up by backupctl and by restic; then half the files are deleted and backed up again;
# then each tool forgets the first snapshot and reclaims the space of the deleted half:
#   backupctl cleanup --force      (retention: {last: 1}; nothing else runs, so no grace wait)
#   restic forget --keep-last 1 --prune
# Prints per tool: blobs in the repository, index size on disk, wall time and peak RSS
# (/usr/bin/time -v) of the prune, peak RSS per blob and per byte of index, and the load average
# (the machine may be shared). Env: WORK (default /tmp/backupbot-prune), KEEP=1, BACKUPCTL.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WORK=${WORK:-/tmp/backupbot-prune}
FILES=${PRUNE_FILES:-1000000}
DIRS=${PRUNE_DIRS:-1000}
export RESTIC_REPOSITORY=$WORK/repo-restic RESTIC_CACHE_DIR=$WORK/cache/restic
BB_REPO=$WORK/repo-backupctl

command -v restic > /dev/null || eval "$(bash "$ROOT/scripts/services/restic.sh" start)" || exit 1
need_time
need_backupctl
rm -rf "$WORK"; mkdir -p "$WORK"
LOG=$WORK/prune.log; : > "$LOG"
CFG=$WORK/backupbot.yaml
printf "storages:\n  bench: {type: local, path: %s}\ntargets:\n  tree: {paths: [%s]}\nretention: {last: 1}\n" \
  "$BB_REPO" "$WORK/data" > "$CFG"

echo "generating $FILES files in $DIRS directories ..." >&2
python3 - "$WORK/data" "$FILES" "$DIRS" <<'PY' || exit 1
import os, sys
root, files, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = -(-files // dirs)
for i in range(files):
    d = os.path.join(root, "half%d" % (i % 2), "d%05d" % (i // 2 // per))
    if i < 2 or (i // 2) % per == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%07d" % i), "w") as f:
        f.write("file %d of the prune bench\n" % i)
PY

rc=0
declare -A RSS WALL
step() { # tool step command...
  local tool=$1 name=$2; shift 2
  local tf=$WORK/time.$$ t0 t1 code
  echo "=== $tool $name: $*" >> "$LOG"
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$tf" "$@" >> "$LOG" 2>&1; code=$?
  t1=$(date +%s.%N)
  [[ $code == 0 ]] || { echo "bench: $tool $name failed (rc=$code), see $LOG" >&2; rc=1; }
  RSS[$tool.$name]=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$tf")
  WALL[$tool.$name]=$(awk -v a="$t0" -v z="$t1" 'BEGIN{printf "%.1f", z-a}')
  echo "  $tool $name: ${WALL[$tool.$name]} s, peak RSS ${RSS[$tool.$name]} MiB" >&2
  rm -f "$tf"
}
bb=("$BACKUPCTL" --config "$CFG")

restic init -q --repository-version 2 >> "$LOG" 2>&1 || { echo "bench: restic init failed" >&2; exit 1; }
step restic backup1 restic backup -q "$WORK/data"
step backupctl backup1 "${bb[@]}" create --type full --target tree --storage bench
rm -rf "$WORK/data/half1"
sleep 1 # distinct snapshot times
step restic backup2 restic backup -q "$WORK/data"
step backupctl backup2 "${bb[@]}" create --type full --target tree --storage bench

blobs_restic=$(restic list blobs 2>> "$LOG" | wc -l)
index_restic=$(du -sb "$RESTIC_REPOSITORY/index" | cut -f1)
index_bb=$(du -sb "$BB_REPO/index" | cut -f1)
step restic prune restic forget --keep-last 1 --prune
step backupctl prune "${bb[@]}" --json cleanup --force --storage bench
blobs_restic_after=$(restic list blobs 2>> "$LOG" | wc -l)
# Ours: the blobs its cleanup indexed (blobs_indexed in its JSON).
blobs_bb=$(awk '/^=== backupctl prune/ {p=1} p && /"blobs_indexed"/ {gsub(/[^0-9]/, ""); print; exit}' "$LOG")

echo "prune beside restic: $FILES files, half of them forgotten"
printf "%-10s %10s %12s %10s %12s %10s %10s\n" tool blobs index_MiB prune_s peak_RSS_MiB B/blob RSS/index
row() { # tool blobs index_bytes
  local rss=${RSS[$1.prune]:-0}
  awk -v t="$1" -v b="$2" -v i="$3" -v s="${WALL[$1.prune]:-0}" -v r="$rss" 'BEGIN {
    printf "%-10s %10s %12.1f %10.1f %12.1f %10s %10.1f\n", t, (b ? b : "?"), i/1048576, s, r,
      (b ? sprintf("%.0f", r*1048576/b) : "?"), (i ? r*1048576/i : 0) }'
}
row restic "$blobs_restic" "$index_restic"
row backupctl "${blobs_bb:-}" "$index_bb"
echo "restic blobs after the prune: $blobs_restic_after"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
[[ ${KEEP:-} == 1 ]] || rm -rf "$WORK"
exit $rc
