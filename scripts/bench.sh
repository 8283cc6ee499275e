#!/usr/bin/env bash
# `make bench`: the engine against restic on ../shared/bench data (local, then S3 and
# Azure), and the queue/chat latency benchmarks against a test-owned Redis.
# SCALE (default in bench/run.sh) sets the dataset size; BENCH_ONLY=engine|remote|queue|load picks one part.
# The load part (bench/load): 1 bot + 2 workers (real binaries), real Redis, a fake Slack allowing one post
# per second per channel, LOAD_RATE (200) signed commands/s for LOAD_SECONDS (60); LOAD_DRAIN (10m) bounds
# the wait for the accepted jobs to finish.
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
if [[ $only == all || $only == queue ]]; then
  need redis
  echo "== queue and chat latency (real Redis)"
  # enqueue -> handler start on an idle worker, over many samples
  go test -run '^$' -bench . -benchtime "${QUEUE_SAMPLES:-300x}" ./jobs/ || rc=1
  # chat command -> ack under a 200 commands/s load for 30 s (one run is the whole load)
  go test -run '^$' -bench CommandToAck -benchtime 1x ./bot/ || rc=1
fi
if [[ $only == all || $only == load ]]; then
  need redis
  echo "== service under load (bot + 2 workers, signed Slack commands)"
  ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
  mkdir -p bin && go build -o bin/backupbot ./cmd/backupbot && go build -o bin/backupctl ./cmd/backupctl &&
    go run ./bench/load -bin ./bin -redis "${BACKUPBOT_TEST_REDIS_URL%/*}/1" \
      -seconds "${LOAD_SECONDS:-60}" -rate "${LOAD_RATE:-200}" -drain "${LOAD_DRAIN:-10m}" \
      -work "${BACKUPBOT_TEST_STATE}/load" || rc=1
fi
exit $rc
