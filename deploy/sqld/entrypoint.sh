#!/bin/bash
# Entrypoint for sqld in docker-compose.yml: runs /bin/sqld with the given arguments and, when
# SQLD_DURABILITY_MODE is set (the primary), applies that durability mode to the default namespace.
# sqld has no command-line flag for it: the mode lives in the namespace config, set through the
# admin API (bound to loopback inside this container only) and kept in sqld's meta store.
#
#   engram-sqld-entrypoint.sh [sqld arguments...]
#   engram-sqld-entrypoint.sh --healthcheck   # 0 once configured and a `SELECT 1` succeeds
#
# Only bash built-ins and coreutils/sed are used: the image has no curl.
set -euo pipefail

READY=/tmp/engram-sqld-ready

if [[ ${1:-} == --healthcheck ]]; then
  # A query, not GET /health: a replica answers /health before it can serve its database.
  [[ -f $READY ]] || exit 1
  body='{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}},{"type":"close"}]}'
  exec 3<>/dev/tcp/127.0.0.1/8080
  printf 'POST /v2/pipeline HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "${#body}" "$body" >&3
  IFS= read -r -t 2 status_line <&3
  [[ $status_line =~ ^HTTP/1\.[01]\ 200 ]]
  exit
fi

# The upstream image starts as root and drops to its `sqld` user with gosu (as its own entrypoint
# does); an image without them runs sqld as whatever user it starts with.
if [[ $(id -u) == 0 ]] && command -v gosu >/dev/null && id sqld >/dev/null 2>&1; then
  mkdir -p /var/lib/sqld
  chown -R sqld:sqld /var/lib/sqld
  exec gosu sqld /bin/bash "$0" "$@"
fi

ADMIN_PORT=${SQLD_ADMIN_PORT:-9090}
MODE=${SQLD_DURABILITY_MODE:-}
rm -f "$READY"
log() { echo "engram-sqld-entrypoint: $*" >&2; }

args=("$@")
[[ -n $MODE ]] && args+=(--admin-listen-addr "127.0.0.1:$ADMIN_PORT")
/bin/sqld "${args[@]}" &
pid=$!
# PID 1 forwards SIGTERM/SIGINT so sqld shuts down cleanly on `docker stop`.
signalled=0
trap 'signalled=1; kill -TERM "$pid" 2>/dev/null || true' TERM INT

# admin METHOD PATH [BODY]: prints the response body; fails unless the status is 2xx.
admin() {
  local method=$1 path=$2 body=${3:-} response
  exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" || return 1
  LC_ALL=C printf '%s %s HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$method" "$path" "${#body}" "$body" >&3
  response=$(cat <&3) || true
  exec 3<&-
  [[ $response =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]] || { log "$method $path: ${response%%$'\r'*}"; return 1; }
  printf '%s' "${response#*$'\r\n\r\n'}"
}

configure() {
  local path=/v1/namespaces/default/config config='' i
  for ((i = 0; i < 150; i++)); do # up to ~30 s for sqld to come up
    kill -0 "$pid" 2>/dev/null || return 1
    config=$(admin GET "$path" 2>/dev/null) && break
    sleep 0.2
  done
  [[ -n $config ]] || { log "admin API did not answer"; return 1; }
  if [[ $config != *'"durability_mode":'* ]]; then
    log "this sqld has no durability_mode setting; leaving its default"
    return 0
  fi
  if [[ $config == *"\"durability_mode\":\"$MODE\""* ]]; then
    log "durability_mode already $MODE"
    return 0
  fi
  # Post the whole config back with only durability_mode changed (a partial body resets other fields).
  config=$(printf '%s' "$config" | sed -E "s/\"durability_mode\":\"[a-z]*\"/\"durability_mode\":\"$MODE\"/")
  admin POST "$path" "$config" >/dev/null || return 1
  config=$(admin GET "$path") || return 1
  [[ $config == *"\"durability_mode\":\"$MODE\""* ]] || { log "durability_mode did not change: $config"; return 1; }
  log "durability_mode set to $MODE"
}

if [[ -n $MODE ]]; then
  if ! configure; then
    log "could not set durability_mode=$MODE; stopping"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    exit 1
  fi
fi
touch "$READY"

# `wait` returns early when a trapped signal arrives; then wait again for sqld's own exit status.
status=0
wait "$pid" || status=$?
if ((signalled)); then
  status=0
  wait "$pid" || status=$?
fi
exit "$status"
