#!/usr/bin/env bash
# backupctl against restic on the same data, in one run (`make bench` calls this).
#
#   bench/run.sh            SCALE=0.25 by default (about 256 MiB); SCALE=1 is ~1 GiB
#
# Steps, each for both tools, warm cache (sync + read of data and repositories first):
#   full (init + first backup), noop (nothing changed), mutate (after `mkdata.sh mutate`),
#   restore (latest, into an empty directory, checked with diff -r), check (deep:
#   backupctl verify --all --deep vs restic check --read-data).
# Prints wall time, peak RSS, CPU and repository size per step with backupctl/restic
# ratios, the repository growth after mutate, and the issue's targets.
# Env: SCALE, WORK (default /tmp/backupbot-bench), KEEP=1 keeps repositories,
#      BACKUPCTL (default ./bin/backupctl, built if missing).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
SCALE=${SCALE:-0.25}
WORK=${WORK:-/tmp/backupbot-bench}
MKDATA=${MKDATA:-$ROOT/../shared/bench/mkdata.sh}
DATA=$WORK/data RES=$WORK/results.tsv LOG=$WORK/bench.log
export RESTIC_REPOSITORY=$WORK/repo-restic RESTIC_CACHE_DIR=$WORK/cache/restic
BB_REPO=$WORK/repo-backupctl

need_restic
need_backupctl
[[ -x $MKDATA || -f $MKDATA ]] || { echo "bench: $MKDATA not found" >&2; exit 1; }
need_time

mkdir -p "$WORK"; : > "$LOG"
CFG=$WORK/backupbot.yaml
cat > "$CFG" <<YAML
storages:
  bench: {type: local, path: $BB_REPO}
targets:
  bench: {paths: [$DATA]}
YAML

PRISTINE=$WORK/data.pristine
if [[ "$(cat "$PRISTINE.scale" 2>/dev/null)" != "$SCALE" ]]; then
  echo "generating the dataset, scale $SCALE ..." >&2
  rm -rf "$PRISTINE"; bash "$MKDATA" "$PRISTINE" "$SCALE" >> "$LOG" || exit 1
  echo "$SCALE" > "$PRISTINE.scale"
fi
rm -rf "$DATA" "$WORK"/restore-* "$BB_REPO" "$RESTIC_REPOSITORY" "$WORK/cache"
cp -a "$PRISTINE" "$DATA"
printf "tool\tstep\twall_s\trss_MiB\tcpu_s\trepo_bytes\tok\n" > "$RES"

bb() { echo "'$BACKUPCTL' --config '$CFG' $*"; }
cmd_for() { # tool step
  case $1:$2 in
    restic:full)    echo "restic init --repository-version 2 -q && restic backup -q --compression auto '$DATA'" ;;
    restic:backup)  echo "restic backup -q --compression auto '$DATA'" ;;
    restic:restore) echo "restic restore -q latest --target '$WORK/restore-restic'" ;;
    restic:check)   echo "restic check -q --read-data" ;;
    backupctl:full)    bb create --type full --target bench --storage bench ;;
    backupctl:backup)  bb create --type incremental --target bench --storage bench ;;
    backupctl:restore) bb restore --name latest --target bench --storage bench --to "'$WORK/restore-backupctl'" ;;
    backupctl:check)   bb verify --all --deep --storage bench ;;
  esac
}
repo_of() { [[ $1 == restic ]] && echo "$RESTIC_REPOSITORY" || echo "$BB_REPO"; }

measure() { # tool label step
  local t=$1 label=$2 step=$3 tf=$WORK/time.$$ r; r=$(repo_of "$t")
  sync; find "$DATA" "$r" -type f -print0 2>/dev/null | xargs -0 -r cat > /dev/null
  echo "=== $t $label: $(cmd_for "$t" "$step")" >> "$LOG"
  local t0 t1 rc; t0=$(date +%s.%N)
  /usr/bin/time -v -o "$tf" bash -c "$(cmd_for "$t" "$step")" >> "$LOG" 2>&1; rc=$?
  t1=$(date +%s.%N)
  local rss cpu repo ok=ok
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tf")
  cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END{printf "%.2f", s}' "$tf")
  repo=$(du -sb "$r" 2>/dev/null | cut -f1)
  [[ $rc == 0 ]] || ok="FAIL(rc=$rc)"
  if [[ $step == restore && $rc == 0 ]]; then
    diff -r -q --no-dereference "$DATA" "$WORK/restore-$t$DATA" >> "$LOG" 2>&1 || ok=MISMATCH
  fi
  awk -v a="$t0" -v z="$t1" 'BEGIN{printf "%.2f", z-a}' > "$tf.wall"
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$t" "$label" "$(cat "$tf.wall")" "$rss" "$cpu" "${repo:-0}" "$ok" >> "$RES"
  rm -f "$tf" "$tf.wall"
  tail -n 1 "$RES" >&2
}

for t in restic backupctl; do
  measure "$t" full full
  measure "$t" noop backup
done
bash "$MKDATA" mutate "$DATA" "$SCALE" 1 >> "$LOG" || exit 1
# Restores go to fresh directories that are removed only at the end: ext4
# allocates inodes slowly right after many were deleted, which would
# penalise whichever tool restored second.
for t in restic backupctl; do
  measure "$t" mutate backup
  mkdir -p "$WORK/restore-$t"
  measure "$t" restore restore
  measure "$t" check check
done
rm -rf "$WORK"/restore-*

echo
echo "dataset: $(du -sb "$PRISTINE" | cut -f1) bytes, scale $SCALE, $(find "$DATA" -type f | wc -l) files; $(nproc) cores; $(restic version | cut -d' ' -f1-2)"
python3 - "$RES" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
get = {(r["tool"], r["step"]): r for r in rows}
steps = ["full", "noop", "mutate", "restore", "check"]
target = {"full": 0.65, "noop": 1.0, "mutate": 1.0, "restore": 1.0, "check": 1.0}
print(f'{"step":<9}{"restic s":>9}{"ours s":>8}{"ratio":>7}{"target":>8}  {"restic MiB":>10}{"ours MiB":>9}{"ratio":>7}  {"cpu r/o":>11}  ok')
fails = []
for s in steps:
    r, o = get.get(("restic", s)), get.get(("backupctl", s))
    if not r or not o: continue
    rw, ow = float(r["wall_s"]), float(o["wall_s"]); rm, om = int(r["rss_MiB"]), int(o["rss_MiB"])
    ratio = ow / rw if rw else 0
    flag = "" if ratio <= target[s] else " !"
    if flag: fails.append(f"{s} time {ratio:.2f}x > {target[s]}x")
    ok = "ok" if r["ok"] == o["ok"] == "ok" else f'{r["ok"]}/{o["ok"]}'
    print(f'{s:<9}{rw:9.2f}{ow:8.2f}{ratio:7.2f}{"<=" + str(target[s]):>8}{flag:2}{rm:10d}{om:9d}{om / rm:7.2f}  {r["cpu_s"]:>5}/{o["cpu_s"]:<5}  {ok}')
def size(t, s): return int(get[(t, s)]["repo_bytes"])
rs, os_ = size("restic", "mutate"), size("backupctl", "mutate")
rg, og = rs - size("restic", "noop"), os_ - size("backupctl", "noop")
peak_r = max(int(r["rss_MiB"]) for r in rows if r["tool"] == "restic")
peak_o = max(int(r["rss_MiB"]) for r in rows if r["tool"] == "backupctl")
print()
print(f"repository size  restic {rs/2**20:8.1f} MiB  ours {os_/2**20:8.1f} MiB  ratio {os_/rs:.3f} (target <= 1.02)")
print(f"growth (mutate)  restic {rg/2**20:8.1f} MiB  ours {og/2**20:8.1f} MiB  ratio {og/max(rg,1):.2f} (target <= 1.5)")
print(f"peak memory      restic {peak_r:8d} MiB  ours {peak_o:8d} MiB  ratio {peak_o/peak_r:.2f} (target <= 1.0)")
if os_ / rs > 1.02: fails.append("repository size")
if og / max(rg, 1) > 1.5: fails.append("growth after mutate")
if peak_o > peak_r: fails.append("peak memory")
bad = [r for r in rows if r["ok"] != "ok"]
for r in bad: fails.append(f'{r["tool"]} {r["step"]}: {r["ok"]}')
print("targets met" if not fails else "targets missed: " + "; ".join(fails))
PY
echo "(per-step rows: $RES; command output: $LOG)"
if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$BB_REPO" "$RESTIC_REPOSITORY" "$WORK/cache"; fi
