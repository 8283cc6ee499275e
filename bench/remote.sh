#!/usr/bin/env bash
# Remote-repository benchmark: backupctl against restic with the repository on the test-owned
# S3 server (versitygw) and on Azurite, on the shared deterministic dataset.
#
#   bench/remote.sh [SCALE]     default SCALE=0.1 (~110 MB); 1 is ~1.07 GB
#
# Steps, as in ../shared/bench/anchors.sh: init+full | noop (nothing changed) | mutate (after
# `mkdata.sh mutate`, ~1% changed) | restore (latest, into an empty dir, checked with diff -r,
# untimed) | check (read and verify all data). Wall time from date(1), peak RSS from
# /usr/bin/time -v. Both tools encrypt and compress (restic --compression auto; backupctl
# --encrypt --compress). restic's S3 backend talks to versitygw; restic (up to at least 0.16)
# builds Azure addresses as https://ACCOUNT.blob.<suffix> and cannot reach Azurite's
# http://127.0.0.1:PORT/ACCOUNT, so the Azure rows show backupctl alone.
#
# Env: WORK (default /tmp/backupbot-bench-remote), SHARED (default ../shared next to the repo),
#      BACKUPBOT_TEST_S3_* and BACKUPBOT_TEST_AZURE_CONNECTION_STRING (scripts/services/*.sh;
#      started here, and stopped afterwards, when unset), KEEP=1 keeps bucket and work dir.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SCALE=${1:-${SCALE:-0.1}}
WORK=${WORK:-/tmp/backupbot-bench-remote}
SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
export BACKUPBOT_TEST_STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
mkdir -p "$WORK/bin"
LOG=$WORK/remote.log
RES=$WORK/results.tsv
: > "$LOG"

started=()
cleanup() {
  if [[ ${KEEP:-0} != 1 && -n ${NAME:-} ]]; then "$WORK/bin/remotesetup" remove "$NAME" >> "$LOG" 2>&1 || true; fi
  for s in "${started[@]}"; do bash "scripts/services/$s.sh" stop || true; done
}
trap cleanup EXIT
if [[ -z ${BACKUPBOT_TEST_S3_ENDPOINT:-} ]]; then
  eval "$(bash scripts/services/s3.sh start)" || { echo "remote.sh: cannot start the test S3 server" >&2; exit 1; }
  started+=(s3)
fi
if [[ -z ${BACKUPBOT_TEST_AZURE_CONNECTION_STRING:-} ]]; then
  eval "$(bash scripts/services/azurite.sh start)" || { echo "remote.sh: cannot start Azurite" >&2; exit 1; }
  started+=(azurite)
fi

echo "building backupctl ..." >&2
go build -o "$WORK/bin/" ./cmd/backupctl ./bench/remotesetup || exit 1
NAME=bb-bench-$(date +%s)
"$WORK/bin/remotesetup" create "$NAME" || exit 1

DATA=$WORK/data
PRISTINE=$WORK/data.pristine
RESTORE=$WORK/restore
if [[ "$(cat "$PRISTINE.scale" 2>/dev/null)" != "$SCALE" ]]; then
  echo "generating dataset scale=$SCALE ..." >&2
  rm -rf "$PRISTINE"; "$SHARED/bench/mkdata.sh" "$PRISTINE" "$SCALE" >> "$LOG" || exit 1
  echo "$SCALE" > "$PRISTINE.scale"
fi
rm -rf "$DATA" "$RESTORE" "$WORK/cache"; cp -a "$PRISTINE" "$DATA"

# Credentials for both tools; the S3 pair is the test server's throwaway one.
export AWS_ACCESS_KEY_ID=$BACKUPBOT_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BACKUPBOT_TEST_S3_SECRET_KEY
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export AZURE_STORAGE_CONNECTION_STRING=$BACKUPBOT_TEST_AZURE_CONNECTION_STRING
export RESTIC_PASSWORD=remote-bench-pw BACKUPBOT_REPO_PASSWORD=remote-bench-pw RESTIC_CACHE_DIR=$WORK/cache/restic
cat > "$WORK/backupbot.yaml" <<EOF
storages:
  s3: {type: s3, bucket: $NAME, region: ${BACKUPBOT_TEST_S3_REGION:-us-east-1}, prefix: backupctl, endpoint: "$BACKUPBOT_TEST_S3_ENDPOINT", path_style: true}
  azure: {type: azure, container: $NAME, prefix: backupctl}
targets:
  data: {paths: ["$DATA"]}
EOF
CTL="$WORK/bin/backupctl --config $WORK/backupbot.yaml"

# command for tool:store and step
cmd_for() {
  local ts=$1 step=$2
  case $ts:$step in
    restic:s3:init)    echo "restic -r s3:$BACKUPBOT_TEST_S3_ENDPOINT/$NAME/restic init --repository-version 2 && $(cmd_for "$ts" backup)" ;;
    restic:s3:backup)  echo "restic -r s3:$BACKUPBOT_TEST_S3_ENDPOINT/$NAME/restic backup --compression auto '$DATA'" ;;
    restic:s3:restore) echo "restic -r s3:$BACKUPBOT_TEST_S3_ENDPOINT/$NAME/restic restore latest --target '$RESTORE'" ;;
    restic:s3:check)   echo "restic -r s3:$BACKUPBOT_TEST_S3_ENDPOINT/$NAME/restic check --read-data" ;;
    backupctl:*:init)    echo "$CTL create --type full --target data --storage ${ts#backupctl:} --encrypt --compress" ;;
    backupctl:*:backup)  echo "$CTL create --type incremental --target data --storage ${ts#backupctl:} --encrypt --compress" ;;
    backupctl:*:restore) echo "$CTL restore --name latest --target data --storage ${ts#backupctl:} --to '$RESTORE' --force" ;;
    backupctl:*:check)   echo "$CTL verify --all --deep --storage ${ts#backupctl:}" ;;
  esac
}

restored_root() { # where the dataset lands under $RESTORE
  local d
  for d in "$RESTORE$DATA" "$RESTORE/$(basename "$DATA")" "$RESTORE"; do
    [[ -d $d/src || -d $d/etc ]] && { echo "$d"; return; }
  done
  echo "$RESTORE"
}

dsbytes() { find "$DATA" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}'; }

measure() { # tool:store label step
  local ts=$1 label=$2 step=$3 tf=$WORK/time.$$ t0 t1 rc
  sync; find "$DATA" -type f -print0 | xargs -0 -r cat > /dev/null
  echo "=== $ts $label: $(cmd_for "$ts" "$step")" >> "$LOG"
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$tf" bash -c "$(cmd_for "$ts" "$step")" >> "$LOG" 2>&1; rc=$?
  t1=$(date +%s.%N)
  local rss; rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tf")
  awk -v t="$ts" -v l="$label" -v a="$t0" -v z="$t1" -v b="$(dsbytes)" -v m="${rss:-0}" -v rc="$rc" \
    'BEGIN{w=z-a; printf "%s\t%s\t%.2f\t%.1f\t%s\n", t, l (rc?"(FAIL rc=" rc ")":""), w, b/1e6/w, m}' >> "$RES"
  rm -f "$tf"
  tail -n 1 "$RES" >&2
  return $rc
}

echo "versions: $(restic version 2>/dev/null | head -1 || echo 'restic not installed'); backupctl $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" | tee -a "$LOG"
printf "tool:store\tstep\twall_s\tMB/s\trss_MiB\n" > "$RES"
tools=(backupctl:s3 backupctl:azure)
command -v restic > /dev/null && tools=(restic:s3 "${tools[@]}") || echo "restic is not installed: our figures alone" >&2

for ts in "${tools[@]}"; do
  measure "$ts" init+full init
  measure "$ts" noop backup
done
"$SHARED/bench/mkdata.sh" mutate "$DATA" "$SCALE" 1 >> "$LOG"
for ts in "${tools[@]}"; do
  measure "$ts" mutate backup
  rm -rf "$RESTORE"; mkdir -p "$RESTORE"
  measure "$ts" restore restore
  if ! diff -r "$DATA" "$(restored_root)" > /dev/null 2>&1; then
    echo "  WARNING: $ts restore differs from the dataset (see $LOG)" | tee -a "$LOG" >&2
  fi
  rm -rf "$RESTORE"
  measure "$ts" check check
done

echo
echo "== remote repositories, scale $SCALE ($(awk -v b="$(dsbytes)" 'BEGIN{printf "%.0f MB", b/1e6}')), wall seconds (MB/s, peak RSS MiB); ratio = restic time / ours on S3"
awk -F'\t' 'NR>1 { key=$1 SUBSEP $2; w[key]=$3; r[key]=$4; m[key]=$5; steps[$2]=1; if (!($2 in order)) { order[$2]=++n; name[n]=$2 } }
  END {
    printf "%-10s %-26s %-26s %-26s %s\n", "step", "backupctl s3", "backupctl azure", "restic s3", "restic/ours (s3)"
    for (i=1; i<=n; i++) { s=name[i]
      bs=("backupctl:s3" SUBSEP s); ba=("backupctl:azure" SUBSEP s); rs=("restic:s3" SUBSEP s)
      c1 = (bs in w) ? sprintf("%6.2fs (%5.1f, %4d)", w[bs], r[bs], m[bs]) : "-"
      c2 = (ba in w) ? sprintf("%6.2fs (%5.1f, %4d)", w[ba], r[ba], m[ba]) : "-"
      c3 = (rs in w) ? sprintf("%6.2fs (%5.1f, %4d)", w[rs], r[rs], m[rs]) : "-"
      ratio = ((bs in w) && (rs in w) && w[bs] > 0) ? sprintf("%.2fx", w[rs]/w[bs]) : "-"
      printf "%-10s %-26s %-26s %-26s %s\n", s, c1, c2, c3, ratio
    }
  }' "$RES"
grep -q FAIL "$RES" && { echo "some steps failed: see $LOG" >&2; exit 1; }
exit 0
