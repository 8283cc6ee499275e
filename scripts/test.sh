#!/usr/bin/env bash
# `make test`: start every server the suite needs (test-owned instances on their own
# ports, installed on first use), run lint, the whole Go suite and a short fuzz run,
# then stop what this run started. Safe to run twice, and concurrently with nothing else.
set -uo pipefail
cd "$(dirname "$0")/.."
export BACKUPBOT_TEST_STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
mkdir -p "$BACKUPBOT_TEST_STATE"

services=()
for s in redis s3 azurite postgres mariadb promtool; do
  [[ -f scripts/services/$s.sh ]] && services+=("$s")
done

stop_all() {
  for s in "${services[@]}"; do bash "scripts/services/$s.sh" stop || true; done
}
trap stop_all EXIT

for s in "${services[@]}"; do
  echo "== starting test $s" >&2
  if ! exports=$(bash "scripts/services/$s.sh" start); then
    echo "make test: could not start the test $s server (see the lines above)" >&2
    exit 1
  fi
  eval "$exports"
done

echo "== lint" >&2
make -s lint || exit 1

echo "== go test" >&2
rc=0
go test -count=1 -timeout 14m ./... || rc=1

echo "== fuzz (commands parser, ${FUZZTIME:-20s})" >&2
go test ./commands -run '^$' -fuzz '^FuzzParse$' -fuzztime "${FUZZTIME:-20s}" || rc=1

exit $rc
