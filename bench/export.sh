#!/usr/bin/env bash
# BENCH_ONLY=export: back up EXPORT_MB (default 2048) MB of incompressible data to a
# local repository, then export it as tar to the S3 storage (--destination
# offsite:exports/) and report the export's time and peak memory (max RSS of
# backupctl). Fails when the peak is over EXPORT_MAX_RSS_MIB (default 100): an export
# must stream, whatever the backup's size. Needs the test S3 server and Azurite
# (bench/remotesetup makes the bucket), which scripts/bench.sh starts.
set -uo pipefail
cd "$(dirname "$0")/.."
MB=${EXPORT_MB:-2048}
LIMIT=${EXPORT_MAX_RSS_MIB:-100}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bb-export-bench.XXXXXX")
NAME=bbexport$RANDOM$RANDOM
cleanup() {
  "$WORK/bin/remotesetup" remove "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
: "${BACKUPBOT_TEST_S3_ENDPOINT:?start the test S3 server first (scripts/bench.sh does)}"
command -v /usr/bin/time >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq time) >&2

go build -o "$WORK/bin/" ./cmd/backupctl ./bench/remotesetup || exit 1
"$WORK/bin/remotesetup" create "$NAME" || exit 1

mkdir -p "$WORK/data"
left=$MB i=0
while (( left > 0 )); do
  n=$(( left < 256 ? left : 256 ))
  head -c "${n}M" /dev/urandom > "$WORK/data/part$i.bin"
  left=$(( left - n )) i=$(( i + 1 ))
done
cat > "$WORK/backupbot.yaml" <<CONF
storages:
  local: {type: local, path: $WORK/repo}
  offsite: {type: s3, bucket: $NAME, region: $BACKUPBOT_TEST_S3_REGION, endpoint: "$BACKUPBOT_TEST_S3_ENDPOINT"}
targets:
  data: {paths: [$WORK/data]}
CONF
export AWS_ACCESS_KEY_ID=$BACKUPBOT_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BACKUPBOT_TEST_S3_SECRET_KEY
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export BACKUPBOT_REPO_PASSWORD=export-bench BACKUPBOT_REPO_PASSWORD_FILE=
ctl() { "$WORK/bin/backupctl" --config "$WORK/backupbot.yaml" "$@"; }
ctl create --type full --target data --name big >/dev/null || exit 1
rm -rf "$WORK/data"  # the export reads the repository, not the source
if [[ -n ${EXPORT_LOCAL_TOO:-} ]]; then
  /usr/bin/time -f '%M %e' -o "$WORK/time" "$WORK/bin/backupctl" --config "$WORK/backupbot.yaml" \
    export --name big --format tar --destination "$WORK/exports" > /dev/null || exit 1
  read -r kb secs < "$WORK/time"
  printf 'export of a %d MB backup as tar to a local directory: %s s, peak RSS %d MiB\n' "$MB" "$secs" $(( kb / 1024 ))
  rm -rf "$WORK/exports"
fi
/usr/bin/time -f '%M %e' -o "$WORK/time" "$WORK/bin/backupctl" --config "$WORK/backupbot.yaml" \
  export --name big --format tar --destination offsite:exports/ --checksum > "$WORK/out" || { cat "$WORK/out"; exit 1; }
read -r kb secs < "$WORK/time"
mib=$(( kb / 1024 ))
printf 'export of a %d MB backup as tar to S3: %s s, peak RSS %d MiB (limit %d MiB)\n' "$MB" "$secs" "$mib" "$LIMIT"
if (( mib > LIMIT )); then
  echo "export: peak memory $mib MiB is over $LIMIT MiB: the export does not stream" >&2
  exit 1
fi
