#!/usr/bin/env bash
# `make bench`: the engine against restic on ../shared/bench data (local, then S3 and
# Azure), and the queue/chat latency benchmarks against a test-owned Redis.
# SCALE (default in bench/run.sh) sets the dataset size; BENCH_ONLY=engine|remote|export|queue picks one part.
set -uo pipefail
cd "$(dirname "$0")/.."
export BACKUPBOT_TEST_STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
only=${BENCH_ONLY:-all}
rc=0
started=()
stop_all() { for s in "${started[@]}"; do bash "scripts/services/$s.sh" stop || true; done; }
trap stop_all EXIT
need() { # start a test service and import its exports
  eval "$(bash "scripts/services/$1.sh" start)" && started+=("$1")
}

if [[ $only == all || $only == engine ]]; then
  echo "== engine vs restic (local repository)"
  bash bench/run.sh || rc=1
fi
if [[ $only == all || $only == remote ]] && [[ -f bench/remote.sh ]]; then
  need s3 && need azurite
  echo "== engine vs restic (S3 and Azure)"
  bash bench/remote.sh || rc=1
fi
if [[ $only == all || $only == export ]]; then
  need s3 && need azurite
  echo "== export of a ${EXPORT_MB:-2048} MB backup to S3 (peak memory)"
  bash bench/export.sh || rc=1
fi
if [[ $only == all || $only == queue ]]; then
  need redis
  echo "== queue and chat latency (real Redis)"
  # enqueue -> handler start on an idle worker, over many samples
  go test -run '^$' -bench . -benchtime "${QUEUE_SAMPLES:-300x}" ./jobs/ || rc=1
  # chat command -> ack under a 200 commands/s load for 30 s (one run is the whole load)
  go test -run '^$' -bench CommandToAck -benchtime 1x ./bot/ || rc=1
fi
exit $rc
