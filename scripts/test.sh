#!/usr/bin/env bash
# `make test`: start every server the suite needs (test-owned instances on their own
# ports, installed on first use), run lint, the whole Go suite and a short fuzz run,
# then stop what this run started. Safe to run twice, and concurrently with nothing else.
set -uo pipefail
cd "$(dirname "$0")/.."
export BACKUPBOT_TEST_STATE=${BACKUPBOT_TEST_STATE:-/tmp/backupbot-test}
mkdir -p "$BACKUPBOT_TEST_STATE"

services=()
for s in redis s3 azurite postgres mariadb restic samba promtool; do
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

# export --format 7z runs the 7z program (Go has no well-kept 7z writer); its
# tests read archives back with the system's tar, unzip and 7z.
if ! command -v 7z >/dev/null 2>&1 || ! command -v unzip >/dev/null 2>&1; then
  echo "== installing 7z (p7zip-full) and unzip from Debian" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq p7zip-full unzip) >&2 ||
    { echo "make test: could not install p7zip-full and unzip" >&2; exit 1; }
fi
# The dashboard's browser test drives Debian's headless chromium (chromedp).
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium from Debian" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 ||
    { echo "make test: could not install chromium" >&2; exit 1; }
fi

echo "== lint" >&2
make -s lint || exit 1

rc=0
echo "== deploy/ (compose config, kustomize + schema, systemd-analyze verify)" >&2
bash scripts/deploycheck.sh || rc=1

echo "== go test" >&2
go test -count=1 -timeout 14m ./... || rc=1

echo "== fuzz (commands parser, ${FUZZTIME:-20s})" >&2
go test ./commands -run '^$' -fuzz '^FuzzParse$' -fuzztime "${FUZZTIME:-20s}" || rc=1

exit $rc
