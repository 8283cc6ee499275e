#!/usr/bin/env bash
# Validate deploy/ with the real tools (run by `make test`; alone: bash scripts/deploycheck.sh):
#   - docker compose config (the compose plugin, else Debian's docker-compose) after copying
#     .env.example to .env, as a new user would;
#   - kubectl kustomize (else kustomize from the Go proxy) of the base and every overlay, and a
#     schema check of what it renders (deploy/k8s/check: strict decode into k8s.io/api types);
#   - systemd-analyze verify of the units (against a freshly built backupbot binary);
#   - Redis AOF persistence configured in compose, Kubernetes and the systemd example.
# A tool that cannot be installed fails the check with a message; nothing is skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TMP=$(mktemp -d)
created_env=""
cleanup() {
  [[ -n $created_env ]] && rm -f "$created_env"
  rm -rf "$TMP"
}
trap cleanup EXIT
fail=0
bad() { echo "deploycheck: FAIL: $*" >&2; fail=1; }
ok() { echo "deploycheck: ok: $*" >&2; }

apt_install() {
  echo "deploycheck: installing $* from Debian" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >&2
}

# --- compose ---------------------------------------------------------------------------
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose; then
  command -v docker-compose >/dev/null 2>&1 && compose=(docker-compose)
fi
if [[ ${#compose[@]} -eq 0 ]]; then
  bad "neither the docker compose plugin nor docker-compose is available, and installing docker-compose failed"
else
  cdir=$ROOT/deploy/compose
  if [[ ! -e $cdir/.env ]]; then
    cp "$cdir/.env.example" "$cdir/.env" && created_env=$cdir/.env
  fi
  if out=$(cd "$cdir" && "${compose[@]}" config 2>&1); then
    ok "${compose[*]} config"
    grep -q -- '--appendonly' <<<"$out" || bad "compose: Redis runs without AOF (--appendonly yes)"
    for svc in bot worker1 worker2; do
      awk -v s="  $svc:" '$0 == s {on=1; next} on && /^  [^ ]/ {on=0} on' <<<"$out" | grep -q '/healthz' || bad "compose: $svc has no /healthz health check"
    done
    grep -q -- '--no-stdin' <<<"$out" || bad "compose: the bot reads stdin, so it exits at end of input without chat tokens"
  else
    bad "${compose[*]} config:"$'\n'"$out"
  fi
  if [[ -n $created_env ]]; then rm -f "$created_env"; created_env=""; fi
fi

# --- kubernetes ------------------------------------------------------------------------
kustomize=()
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  kustomize=(kubectl kustomize)
else
  echo "deploycheck: kubectl not found; installing kustomize with go install" >&2
  if GOBIN=$TMP/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0 >&2; then
    kustomize=("$TMP/bin/kustomize" build)
  fi
fi
if [[ ${#kustomize[@]} -eq 0 ]]; then
  bad "no kubectl and kustomize could not be installed from the Go proxy"
else
  checker=$TMP/k8scheck
  if ! (cd deploy/k8s/check && go build -o "$checker" .) >&2; then
    bad "building the manifest schema checker (deploy/k8s/check) failed"
    checker=""
  fi
  for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
    dir=${dir%/}
    if ! rendered=$("${kustomize[@]}" "$dir" 2>&1); then
      bad "${kustomize[*]} $dir:"$'\n'"$rendered"
      continue
    fi
    ok "${kustomize[*]} $dir"
    if [[ -n $checker ]]; then
      if res=$("$checker" - <<<"$rendered" 2>&1); then ok "schema $dir: $res"; else bad "schema $dir:"$'\n'"$res"; fi
    fi
    grep -q ':latest' <<<"$rendered" && bad "$dir: an image uses :latest"
  done
  base=$("${kustomize[@]}" deploy/k8s/base 2>/dev/null)
  grep -q 'appendonly yes' <<<"$base" || bad "k8s: the in-cluster Redis runs without AOF"
  grep -q 'kind: HorizontalPodAutoscaler' <<<"$base" || bad "k8s: no HPA for the workers"
  grep -q 'name: backupbot_queue_jobs' <<<"$base" || bad "k8s: the HPA does not name the queue-depth metric"
fi

# --- systemd ---------------------------------------------------------------------------
if ! command -v systemd-analyze >/dev/null 2>&1; then
  apt_install systemd || true
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  bad "systemd-analyze is not available and installing systemd failed"
elif ! go build -o "$TMP/backupbot" ./cmd/backupbot >&2; then
  bad "building backupbot for systemd-analyze verify failed"
else
  units=$TMP/units
  mkdir -p "$units/backupbot-worker@.service.d"
  for f in deploy/systemd/*.service; do
    sed "s#/usr/local/bin/backupbot#$TMP/backupbot#g" "$f" > "$units/$(basename "$f")"
  done
  cp deploy/systemd/restore-in-place.conf "$units/backupbot-worker@.service.d/"
  # verify exits 0 on unknown keys: any output at all is a failure.
  if out=$(cd "$units" && systemd-analyze verify backupbot.service backupbot-bot.service backupbot-worker@1.service 2>&1) && [[ -z $out ]]; then
    ok "systemd-analyze verify (backupbot, backupbot-bot, backupbot-worker@1 with restore-in-place.conf)"
  else
    bad "systemd-analyze verify:"$'\n'"$out"
  fi
  grep -q '^u backupbot ' deploy/systemd/backupbot.sysusers || bad "systemd: no sysusers.d line creating the backupbot user"
  for f in deploy/systemd/*.service; do
    grep -q '^StateDirectory=backupbot' "$f" || bad "$f: no StateDirectory="
  done
  grep -q '^ProtectSystem=' deploy/systemd/backupbot-worker@.service deploy/systemd/backupbot.service \
    && bad "systemd: a unit that runs jobs has ProtectSystem= (it would forbid restoring into /etc)"
  grep -q '^appendonly yes' deploy/systemd/redis-backupbot.conf || bad "systemd: the Redis example has no appendonly yes"
fi

if [[ $fail -ne 0 ]]; then
  echo "deploycheck: deploy/ has problems (above)" >&2
  exit 1
fi
echo "deploycheck: deploy/ validated" >&2
