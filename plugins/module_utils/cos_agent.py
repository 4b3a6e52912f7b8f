# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cos agent: the shell program that runs containers from instance metadata on a COS VM.

The agent and its helper are kept here as text because only the Python files of
module_utils travel with a module, and cos_container must be able to install the agent on a
VM that lacks it (konlet migration). docs/agent.md describes the behaviour; the contract
with cos_container is in docs/internals.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

BIN_DIR = "/var/lib/cos-agent/bin"
AGENT_PATH = BIN_DIR + "/cos-agent"
FETCH_SECRETS_PATH = BIN_DIR + "/fetch-secrets"
AGENT_UNIT_NAME = "cos-agent.service"
AGENT_UNIT_PATH = "/etc/systemd/system/" + AGENT_UNIT_NAME
SECRETS_DIR = "/run/cos-agent/secrets"
METADATA_KEY_PREFIX = "cos-container-"
GUEST_ATTRIBUTE_NAMESPACE = "cos-agent"

# The agent (docs/agent.md). Kept byte-exact: its SHA-256 is the agent version.
AGENT_SCRIPT = r"""#!/bin/bash
# cos-agent (gce.cos): turns the instance metadata keys cos-container-NAME into systemd
# units, keeps them converged, and reports each container as a guest attribute.
# Only bash, curl, coreutils, grep, systemctl, journalctl and docker are used: COS has no
# jq and no Python. The design is documented in docs/agent.md of the collection.
set -u -o pipefail
export LC_ALL=C
umask 022

MD_URL=${COS_AGENT_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}
MD_URL=${MD_URL%/}
UNIT_DIR=${COS_AGENT_UNIT_DIR:-/etc/systemd/system}
STATE_DIR=${COS_AGENT_STATE_DIR:-/var/lib/cos-agent}
SECRETS_DIR=${COS_AGENT_SECRETS_DIR:-/run/cos-agent/secrets}
WATCH_TIMEOUT=${COS_AGENT_WATCH_TIMEOUT:-60}
BUSY_TIMEOUT=${COS_AGENT_BUSY_TIMEOUT:-1}
SETTLE_SECONDS=${COS_AGENT_SETTLE_SECONDS:-120}
BACKOFF_MAX=${COS_AGENT_BACKOFF_MAX:-30}
GA_NS=${COS_AGENT_GUEST_NAMESPACE:-cos-agent}
KEY_PREFIX=cos-container-
# One JSON document for all attributes: its ETag covers every value, so a long-poll
# with last_etag returns as soon as any of them differs from what was applied.
ATTRS_QUERY='instance/attributes/?recursive=true&alt=json'

VERSION=unknown
BOOT_ID=unknown
TMP=$STATE_DIR/tmp
APPLIED_DIR=$STATE_DIR/applied
DESIRED_DIR=$STATE_DIR/desired

ETAG=''            # ETag of the last attributes document read
APPLIED_ETAG=''    # ETag whose content was fully applied
LAST_ERROR=''      # why the last apply did not complete ('' when it did)
HTTP_STATUS=''
HTTP_ERROR=''
CHILD_PID=''
GA_FAILING=''
declare -A PUBLISHED=()   # NAME -> last JSON published (without time)
declare -A UNSETTLED=()   # NAME -> 1 while pulling/starting/restarting

log() { printf 'cos-agent: %s\n' "$*"; }

on_term() {
  log "stopping"
  if [[ -n $CHILD_PID ]]; then kill "$CHILD_PID" 2>/dev/null; fi
  exit 0
}

# ---------------------------------------------------------------- small helpers

now_rfc3339() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# JSON string escaping in pure bash. Control characters without a short escape become
# \u00XX; bytes >= 0x80 become '?' so the document is always valid UTF-8 JSON.
json_str() {
  local s=$1 c i hex
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=${s//$'\b'/\\b}
  s=${s//$'\f'/\\f}
  if [[ $s == *[$'\x01'-$'\x1f'$'\x7f']* ]]; then
    for ((i = 1; i < 32; i++)); do
      printf -v hex '%02x' "$i"
      printf -v c '%b' "\\x$hex"
      s=${s//"$c"/\\u00$hex}
    done
    s=${s//$'\x7f'/\\u007f}
  fi
  if [[ $s == *[$'\x80'-$'\xff']* ]]; then
    s=${s//[$'\x80'-$'\xff']/?}
  fi
  REPLY="\"$s\""
}

# urlencode for query values (ETags are opaque to us).
urlencode() {
  local s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  REPLY=$out
}

# Write a file atomically: copy to a temporary name in the same directory, then rename.
install_file() { # SRC DEST MODE
  local tmp
  tmp="$(dirname -- "$2")/.$(basename -- "$2").tmp"
  cp -- "$1" "$tmp" && chmod "$3" "$tmp" && mv -f -- "$tmp" "$2"
}

write_text() { # DEST TEXT
  local tmp
  tmp="$(dirname -- "$1")/.$(basename -- "$1").tmp"
  printf '%s\n' "$2" >"$tmp" && mv -f -- "$tmp" "$1"
}

revision_of() { # FILE -> REPLY: first 16 hex of sha256 of the exact bytes
  local sum
  sum=$(sha256sum <"$1") || return 1
  REPLY=${sum:0:16}
}

valid_name() { [[ $1 =~ ^[A-Za-z0-9_-]+$ ]]; }

# ---------------------------------------------------------------- metadata server

# md_get PATH OUT HEADERS MAXTIME -> 0 on 200, 2 on 404, 1 on anything else.
md_get() {
  local code rc
  : >"$3"
  curl -sS -o "$2" -D "$3" -w '%{http_code}' --connect-timeout 5 --max-time "$4" \
    -H 'Metadata-Flavor: Google' -- "$MD_URL/$1" >"$TMP/code" 2>"$TMP/curl.err" &
  CHILD_PID=$!
  # wait (not a foreground curl) so that SIGTERM is handled during a long-poll.
  wait "$CHILD_PID"
  rc=$?
  CHILD_PID=''
  code=$(<"$TMP/code")
  HTTP_STATUS=$code
  HTTP_ERROR=''
  if ((rc != 0)); then
    HTTP_ERROR=$(head -c 300 "$TMP/curl.err")
    return 1
  fi
  case $code in
    200) ;;
    404) return 2 ;;
    *) HTTP_ERROR="HTTP $code"; return 1 ;;
  esac
  # Only the metadata server's own answers count (not a proxy's or a captive portal's):
  # an empty desired set read from a stranger would stop every container.
  if ! grep -qi '^metadata-flavor: *google' "$3"; then
    HTTP_ERROR='answer without Metadata-Flavor: Google'
    return 1
  fi
}

header_etag() { # HEADERS -> ETAG ('' when absent)
  local line
  ETAG=''
  while IFS= read -r line; do
    line=${line%$'\r'}
    if [[ ${line,,} == etag:* ]]; then
      ETAG=${line#*:}
      ETAG=${ETAG#"${ETAG%%[![:space:]]*}"}
    fi
  done <"$1"
}

# Read the attributes document; with a last ETag, long-poll until it differs or TIMEOUT.
read_attributes() { # [LAST_ETAG TIMEOUT]
  local query=$ATTRS_QUERY maxtime=30
  if [[ -n ${1:-} ]]; then
    urlencode "$1"
    query+="&wait_for_change=true&last_etag=$REPLY&timeout_sec=$2"
    maxtime=$(($2 + 30))
  fi
  if ! md_get "$query" "$TMP/attrs.json" "$TMP/attrs.hdr" "$maxtime"; then
    LAST_ERROR="metadata server: ${HTTP_ERROR:-HTTP $HTTP_STATUS}"
    return 1
  fi
  header_etag "$TMP/attrs.hdr"
  if [[ -z $ETAG ]]; then
    LAST_ERROR='metadata server: answer without ETag'
    return 1
  fi
  if [[ $(head -c 1 "$TMP/attrs.json") != '{' ]]; then
    LAST_ERROR='metadata server: attributes are not a JSON object'
    return 1
  fi
}

# Container names present in the attributes document. A key is a string that directly
# follows '{', ',' or a line start and precedes ':'; inside a JSON string every '"' is
# escaped, so such text can never come from a value.
desired_names() {
  local line
  DESIRED=()
  while IFS= read -r line; do
    line=${line#*\""$KEY_PREFIX"}
    line=${line%%\"*}
    if valid_name "$line"; then DESIRED+=("$line"); fi
  done < <(grep -oE "(^|[{,])[[:space:]]*\"${KEY_PREFIX}[A-Za-z0-9_-]+\"[[:space:]]*:" "$TMP/attrs.json")
}

# ---------------------------------------------------------------- guest attributes

ga_put() { # KEY BODY
  local code
  code=$(printf '%s' "$2" | curl -sS -o /dev/null -w '%{http_code}' --connect-timeout 5 --max-time 30 \
    -X PUT --data-binary @- -H 'Metadata-Flavor: Google' \
    -- "$MD_URL/instance/guest-attributes/$GA_NS/$1" 2>"$TMP/curl.err")
  if [[ $code != 2?? ]]; then
    # Logged once until publishing works again (e.g. enable-guest-attributes is off).
    if [[ -z $GA_FAILING ]]; then
      log "guest attribute $GA_NS/$1 not published (HTTP ${code:-000}): $(head -c 200 "$TMP/curl.err")"
    fi
    GA_FAILING=1
    return 1
  fi
  if [[ -n $GA_FAILING ]]; then log "guest attributes published again"; fi
  GA_FAILING=''
}

ga_delete() { # KEY
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' --connect-timeout 5 --max-time 30 -X DELETE \
    -H 'Metadata-Flavor: Google' -- "$MD_URL/instance/guest-attributes/$GA_NS/$1" 2>"$TMP/curl.err")
  [[ $code == 2?? || $code == 404 ]]
}

# ---------------------------------------------------------------- container state

image_of_unit() { # UNIT_FILE -> REPLY: the spec's image ('' if unknown)
  # The spec line is compact JSON with sorted keys, where the top-level "labels" object
  # always follows "image"; a nested "image" key (an env name) cannot be followed by it.
  local line top='"image":"([^"\\]*)","labels":[{]' any='"image":"([^"\\]*)"'
  REPLY=''
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == '# cos-spec:'* ]]; then
      if [[ $line =~ $top || $line =~ $any ]]; then REPLY=${BASH_REMATCH[1]}; fi
      return 0
    fi
  done <"$1"
}

repo_of() { # IMAGE -> REPLY: the repository without tag or digest
  local r=${1%%@*}
  if [[ ${r##*/} == *:* ]]; then r=${r%:*}; fi
  REPLY=$r
}

error_lines() { # UNIT SINCE_EPOCH -> REPLY: the last docker/fetch-secrets error, if any
  local line found=''
  REPLY=''
  command -v journalctl >/dev/null 2>&1 || return 0
  # Only lines that docker or fetch-secrets print about failures: a container's own
  # output may contain anything (even secrets) and is never copied.
  while IFS= read -r line; do
    case $line in
      *'Error response from daemon'* | 'docker: '* | 'fetch-secrets: '* | *'Unable to find image'*)
        found=$line ;;
    esac
  done < <(journalctl -u "$1" --since "@$2" -n 200 --no-pager -o cat 2>/dev/null)
  REPLY=${found:0:800}
}

# container_state NAME -> ST_STATE ST_ERROR ST_IMAGE ST_DIGEST ST_REVISION ST_RESTARTS
container_state() {
  local name=$1 unit="$KEY_PREFIX$1.service" k v
  local job='' active='' sub='' result='' status='' since=0 info cstate='' image_id='' cimage=''
  local digests d repo want_error=''
  ST_STATE='' ST_ERROR='' ST_IMAGE='' ST_DIGEST='' ST_REVISION='' ST_RESTARTS=0
  if [[ -f $APPLIED_DIR/$name ]]; then read -r ST_REVISION since <"$APPLIED_DIR/$name"; fi
  if [[ -f $UNIT_DIR/$unit ]]; then image_of_unit "$UNIT_DIR/$unit"; ST_IMAGE=$REPLY; fi
  while IFS='=' read -r k v; do
    case $k in
      Job) job=$v ;;
      ActiveState) active=$v ;;
      SubState) sub=$v ;;
      Result) result=$v ;;
      ExecMainStatus) status=$v ;;
      NRestarts) if [[ $v =~ ^[0-9]+$ ]]; then ST_RESTARTS=$((10#$v)); fi ;;
    esac
  done < <(systemctl show -p Job,ActiveState,SubState,Result,ExecMainStatus,NRestarts -- "$unit" 2>/dev/null)
  if info=$(docker inspect --format '{{.State.Status}} {{.Image}} {{.Config.Image}}' -- "$name" 2>/dev/null); then
    read -r cstate image_id cimage <<<"$info"
    if [[ -z $ST_IMAGE ]]; then ST_IMAGE=$cimage; fi
  fi
  case $active in
    active)
      if [[ $cstate == running ]]; then ST_STATE=running; else ST_STATE=starting; fi ;;
    activating)
      # auto-restart: it failed and systemd starts it again after RestartSec (the
      # restart job may already be queued); units systemd gave up on are "failed".
      if [[ $sub == auto-restart* ]]; then ST_STATE=restarting; else ST_STATE=starting; fi ;;
    failed) ST_STATE=failed ;;
    inactive)
      if [[ -n $job ]]; then
        ST_STATE=starting
      elif [[ $result == success && ${status:-0} == 0 ]]; then
        ST_STATE=stopped
      else
        ST_STATE=failed
      fi ;;
    *) ST_STATE=starting ;;
  esac
  if [[ -n $job && $ST_STATE == failed ]]; then ST_STATE=starting; fi
  # Not running yet and the image is not on the host: docker is pulling it.
  if [[ $ST_STATE == starting && -n $ST_IMAGE ]] &&
    ! docker image inspect --format '{{.Id}}' -- "$ST_IMAGE" >/dev/null 2>&1; then
    ST_STATE=pulling
  fi
  # The error of a failed unit, and the last one of a unit systemd is restarting (also
  # while a restart is pulling or starting).
  case $ST_STATE in
    failed | restarting) want_error=1 ;;
    pulling | starting) if ((ST_RESTARTS > 0)); then want_error=1; fi ;;
  esac
  if [[ -n $want_error ]]; then
    if [[ $ST_STATE == failed || $ST_STATE == restarting ]]; then
      ST_ERROR="unit $unit failed: result ${result:-unknown}"
      if [[ -n $status && $status != 0 ]]; then ST_ERROR+=", exit status $status"; fi
    else
      ST_ERROR="unit $unit failed before this restart"
    fi
    error_lines "$unit" "${since:-0}"
    if [[ -n $REPLY ]]; then ST_ERROR+=": $REPLY"; fi
  fi
  if [[ -n $image_id ]]; then
    ST_DIGEST=$image_id
    digests=$(docker image inspect --format '{{join .RepoDigests " "}}' -- "$image_id" 2>/dev/null) || digests=''
    repo_of "$ST_IMAGE"
    repo=$REPLY
    for d in $digests; do
      if [[ ${d%%@*} == "$repo" ]]; then ST_DIGEST=${d#*@}; break; fi
    done
    if [[ $ST_DIGEST == "$image_id" && -n $digests ]]; then
      d=${digests%% *}
      ST_DIGEST=${d#*@}
    fi
  fi
}

# Publish cos-agent/NAME when its content changed (or always with FORCE=1).
report() { # NAME [FORCE]
  local name=$1 force=${2:-0} body
  container_state "$name"
  body=''
  json_str "$ST_REVISION"; body+="{\"revision\":$REPLY"
  json_str "$ST_STATE"; body+=",\"state\":$REPLY"
  json_str "$ST_IMAGE"; body+=",\"image\":$REPLY"
  json_str "$ST_DIGEST"; body+=",\"digest\":$REPLY"
  json_str "$ST_ERROR"; body+=",\"error\":$REPLY,\"restarts\":$ST_RESTARTS"
  case $ST_STATE in pulling | starting | restarting) UNSETTLED[$name]=1 ;; *) unset 'UNSETTLED[$name]' ;; esac
  if [[ $force == 1 || ${PUBLISHED[$name]:-} != "$body" ]]; then
    if [[ ${PUBLISHED[$name]:-} != "$body" ]]; then
      log "container $name: $ST_STATE (revision $ST_REVISION)${ST_ERROR:+: $ST_ERROR}"
    fi
    json_str "$(now_rfc3339)"
    if ga_put "$name" "$body,\"time\":$REPLY}"; then PUBLISHED[$name]=$body; fi
  fi
}

report_all() { # [FORCE]
  local f
  for f in "$APPLIED_DIR"/*; do
    [[ -f $f ]] || continue
    report "${f##*/}" "${1:-0}"
  done
}

heartbeat() {
  local body n=0 f
  for f in "$APPLIED_DIR"/*; do [[ -f $f ]] && n=$((n + 1)); done
  json_str "$VERSION"; body="{\"version\":$REPLY"
  json_str "$BOOT_ID"; body+=",\"boot_id\":$REPLY"
  json_str "$APPLIED_ETAG"; body+=",\"applied\":$REPLY"
  json_str "$(now_rfc3339)"; body+=",\"time\":$REPLY"
  json_str "$LAST_ERROR"; body+=",\"error\":$REPLY,\"containers\":$n}"
  ga_put agent "$body" || true
}

# ---------------------------------------------------------------- apply

sc() { # systemctl with logging; failures are logged, not fatal
  if ! systemctl "$@" >"$TMP/systemctl.out" 2>&1; then
    log "systemctl $*: $(head -c 300 "$TMP/systemctl.out")"
    return 1
  fi
}

# Fetch the desired units and converge. Returns 1 when metadata could not be read fully;
# nothing is stopped or removed in that case.
apply() {
  local name unit rev cur_rev prev_rev since rc f
  local -a new=() changed=() removed=()
  local -A want=()
  desired_names
  if ! { rm -rf -- "$DESIRED_DIR" && mkdir -p -- "$DESIRED_DIR"; }; then
    LAST_ERROR="cannot create $DESIRED_DIR"
    return 1
  fi
  for name in "${DESIRED[@]}"; do
    md_get "instance/attributes/$KEY_PREFIX$name" "$DESIRED_DIR/$name" "$TMP/value.hdr" 30
    rc=$?
    if ((rc == 2)); then
      # Deleted since the document was read: the next long-poll returns at once.
      rm -f -- "$DESIRED_DIR/$name"
      continue
    elif ((rc != 0)); then
      LAST_ERROR="metadata server: $KEY_PREFIX$name: ${HTTP_ERROR:-HTTP $HTTP_STATUS}"
      return 1
    fi
    want[$name]=1
  done

  for name in "${!want[@]}"; do
    unit="$UNIT_DIR/$KEY_PREFIX$name.service"
    revision_of "$DESIRED_DIR/$name" || return 1
    rev=$REPLY
    cur_rev=''
    if [[ -f $unit ]]; then revision_of "$unit" && cur_rev=$REPLY; fi
    prev_rev=''
    if [[ -f $APPLIED_DIR/$name ]]; then read -r prev_rev _ <"$APPLIED_DIR/$name"; fi
    if [[ $cur_rev == "$rev" && $prev_rev == "$rev" ]]; then
      continue # unchanged: leave it alone
    fi
    if [[ $cur_rev != "$rev" ]]; then
      if ! install_file "$DESIRED_DIR/$name" "$unit" 0644; then
        LAST_ERROR="cannot write $unit"
        return 1
      fi
    fi
    # A unit already on disk with the new text but never recorded as applied means the
    # agent stopped mid-apply: restart it to be sure it runs this revision.
    if [[ -n $prev_rev || -n $cur_rev ]]; then changed+=("$name"); else new+=("$name"); fi
  done

  for f in "$UNIT_DIR/$KEY_PREFIX"*.service "$APPLIED_DIR"/*; do
    [[ -e $f ]] || continue
    name=${f##*/}
    name=${name#"$KEY_PREFIX"}
    name=${name%.service}
    valid_name "$name" || continue
    if [[ -z ${want[$name]:-} && " ${removed[*]} " != *" $name "* ]]; then removed+=("$name"); fi
  done

  for name in "${removed[@]}"; do
    unit="$KEY_PREFIX$name.service"
    log "removing container $name"
    sc stop -- "$unit"
    sc disable -- "$unit"
    rm -f -- "$UNIT_DIR/$unit"
  done
  if ((${#new[@]} + ${#changed[@]} + ${#removed[@]} > 0)); then
    sc daemon-reload
  fi
  for name in "${removed[@]}"; do
    sc reset-failed -- "$KEY_PREFIX$name.service"
    docker rm -f -- "$name" >/dev/null 2>&1
    rm -f -- "$SECRETS_DIR/$name.env"
    if ga_delete "$name"; then unset 'PUBLISHED[$name]'; fi
    unset 'UNSETTLED[$name]'
    rm -f -- "$APPLIED_DIR/$name"
  done

  since=$(date +%s)
  for name in "${new[@]}"; do
    log "starting container $name"
    sc start --no-block -- "$KEY_PREFIX$name.service"
    revision_of "$DESIRED_DIR/$name" && write_text "$APPLIED_DIR/$name" "$REPLY $since"
  done
  for name in "${changed[@]}"; do
    log "restarting container $name"
    # A new revision starts with fresh start limits (units with max_retries count them).
    sc reset-failed -- "$KEY_PREFIX$name.service"
    sc restart --no-block -- "$KEY_PREFIX$name.service"
    revision_of "$DESIRED_DIR/$name" && write_text "$APPLIED_DIR/$name" "$REPLY $since"
  done
  if ((${#new[@]} + ${#changed[@]} + ${#removed[@]} == 0)); then
    log "no change (${#want[@]} containers)"
  fi
  LAST_ERROR=''
}

# Wait (bounded) until every container just started is running, failed or stopped.
settle() {
  local i name
  for ((i = 0; i < SETTLE_SECONDS; i++)); do
    for name in "${!UNSETTLED[@]}"; do report "$name"; done
    ((${#UNSETTLED[@]} == 0)) && return 0
    sleep 1
  done
  log "still not settled after ${SETTLE_SECONDS}s: ${!UNSETTLED[*]}"
}

# ---------------------------------------------------------------- main

setup() {
  mkdir -p -- "$STATE_DIR" "$TMP" "$APPLIED_DIR" "$UNIT_DIR" || exit 1
  chmod 0700 -- "$STATE_DIR"
  rm -f -- "$UNIT_DIR/.$KEY_PREFIX"*.tmp "$APPLIED_DIR"/.*.tmp
  if [[ -r /proc/sys/kernel/random/boot_id ]]; then BOOT_ID=$(</proc/sys/kernel/random/boot_id); fi
  local sum
  sum=$(sha256sum <"${BASH_SOURCE[0]}") && VERSION=${sum:0:12}
}

# Apply the current document; on success publish everything once.
apply_current() {
  if apply; then
    APPLIED_ETAG=$ETAG
    report_all 1
    return 0
  fi
  log "apply incomplete, nothing stopped: $LAST_ERROR"
  return 1
}

run_once() {
  if ! read_attributes; then
    log "$LAST_ERROR"
    heartbeat
    return 1
  fi
  apply_current || { heartbeat; return 1; }
  settle
  heartbeat
}

run_watch() {
  local backoff=1 timeout
  while :; do
    if [[ -z $APPLIED_ETAG ]]; then
      read_attributes
    else
      timeout=$WATCH_TIMEOUT
      if ((${#UNSETTLED[@]} > 0)); then timeout=$BUSY_TIMEOUT; fi
      read_attributes "$APPLIED_ETAG" "$timeout"
    fi
    # shellcheck disable=SC2181 # the status of the read above
    if (($? != 0)); then
      log "$LAST_ERROR; retrying in ${backoff}s"
      heartbeat
      sleep "$backoff"
      backoff=$((backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2))
      continue
    fi
    if [[ $ETAG != "$APPLIED_ETAG" ]]; then
      if ! apply_current; then
        heartbeat
        sleep "$backoff"
        backoff=$((backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2))
        continue
      fi
    else
      # Long-poll timed out: refresh states, publish only what changed.
      report_all 0
    fi
    backoff=1
    heartbeat
  done
}

main() {
  local mode=watch
  case ${1:-} in
    --once) mode=once ;;
    --version) setup; printf '%s\n' "$VERSION"; return 0 ;;
    '') ;;
    *) printf 'usage: cos-agent [--once|--version]\n' >&2; return 2 ;;
  esac
  setup
  trap on_term TERM INT
  log "version $VERSION, metadata $MD_URL, units in $UNIT_DIR"
  if [[ $mode == once ]]; then run_once; else run_watch; fi
}

# Sourcing the file (tests do) defines the functions without running the agent.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
"""

# ExecStartPre helper of container units with secret_env.
FETCH_SECRETS_SCRIPT = r"""#!/bin/bash
# fetch-secrets (gce.cos): resolve Secret Manager references for one container into a
# root-only env file on tmpfs, for `docker run --env-file`.
#   fetch-secrets NAME ENVNAME=projects/P/secrets/S/versions/V ...
# The VM's own token comes from the metadata server. Values are never printed: errors
# name the variable and the reference only. No jq, no Python (COS has neither).
set -u -o pipefail
export LC_ALL=C
umask 077

MD_URL=${COS_AGENT_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}
MD_URL=${MD_URL%/}
SM_URL=${COS_AGENT_SECRETMANAGER_URL:-https://secretmanager.googleapis.com}
SM_URL=${SM_URL%/}
SECRETS_DIR=${COS_AGENT_SECRETS_DIR:-/run/cos-agent/secrets}
TRIES=${COS_AGENT_FETCH_TRIES:-5}

say() { printf 'fetch-secrets: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# curl_json URL OUT [HEADER...] -> HTTP code in CODE; retries connection errors and 5xx.
curl_json() {
  local url=$1 out=$2 try delay=1
  shift 2
  for ((try = 1; try <= TRIES; try++)); do
    CODE=$(curl -sS -o "$out" -w '%{http_code}' --connect-timeout 5 --max-time 30 "$@" -- "$url" \
      2>"$WORK/curl.err") || CODE=000
    case $CODE in
      000 | 429 | 5??) ;;
      *) return 0 ;;
    esac
    if ((try < TRIES)); then sleep "$delay"; delay=$((delay * 2)); fi
  done
  return 0
}

# The value of the first "KEY": "string" in a JSON file (our strings need no unescaping:
# tokens and base64 have no quotes or backslashes).
json_field() { # FILE KEY
  local doc re
  doc=$(<"$1")
  re="\"$2\"[[:space:]]*:[[:space:]]*\"([^\"\\\\]*)\""
  [[ $doc =~ $re ]] || return 1
  REPLY=${BASH_REMATCH[1]}
}

# Error message of a Google API error body, for logs (never contains the secret value).
api_message() { # FILE
  if json_field "$1" message; then REPLY=${REPLY:0:300}; else REPLY=''; fi
}

(($# >= 1)) || die 'usage: fetch-secrets NAME [ENVNAME=projects/P/secrets/S/versions/V ...]'
name=$1
shift
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad container name"
if ! { mkdir -p -- "$SECRETS_DIR" && chmod 0700 -- "$SECRETS_DIR"; }; then die "cannot create $SECRETS_DIR"; fi
WORK=$(mktemp -d -- "$SECRETS_DIR/.work.XXXXXX") || die "cannot create a work directory"
trap 'rm -rf -- "$WORK"' EXIT

token=''
if (($# > 0)); then
  curl_json "$MD_URL/instance/service-accounts/default/token" "$WORK/token.json" -H 'Metadata-Flavor: Google'
  [[ $CODE == 200 ]] || die "no token from the metadata server (HTTP $CODE)"
  json_field "$WORK/token.json" access_token || die 'no access_token in the metadata server answer'
  token=$REPLY
fi

out="$WORK/env"
: >"$out"
for pair in "$@"; do
  var=${pair%%=*}
  ref=${pair#*=}
  if [[ $pair != *=* || ! $var =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    die "bad argument '$var': expected ENVNAME=projects/P/secrets/S/versions/V"
  fi
  [[ $ref =~ ^projects/[^/]+/secrets/[^/]+/versions/[^/]+$ ]] || die "$var: bad reference $ref"
  # The token goes through a header file so that it is not on curl's command line.
  printf 'Authorization: Bearer %s\n' "$token" >"$WORK/auth"
  curl_json "$SM_URL/v1/$ref:access" "$WORK/resp.json" -H "@$WORK/auth"
  if [[ $CODE != 200 ]]; then
    api_message "$WORK/resp.json"
    die "$var: cannot access $ref (HTTP $CODE)${REPLY:+: $REPLY}"
  fi
  json_field "$WORK/resp.json" data || die "$var: no payload.data for $ref"
  data=${REPLY//-/+}
  data=${data//_//}
  printf '%s' "$data" >"$WORK/b64"
  base64 -d <"$WORK/b64" >"$WORK/value" 2>/dev/null || die "$var: payload of $ref is not base64"
  # docker env files are line based: trailing line breaks (`echo v | gcloud secrets
  # create` adds one) are dropped, a value with an inner line break is refused.
  value=$(<"$WORK/value") 2>/dev/null
  if [[ $value == *$'\n'* || $value == *$'\r'* ]]; then die "$var: the value of $ref has a line break"; fi
  printf '%s=%s\n' "$var" "$value" >>"$out"
done
unset token value data

chmod 0600 -- "$out"
mv -f -- "$out" "$SECRETS_DIR/$name.env" || die "cannot write $SECRETS_DIR/$name.env"
say "$name: $# secret(s) written to $SECRETS_DIR/$name.env"
"""

# /var is noexec on COS: the scripts are run by bash, never exec'd directly.
AGENT_UNIT = """\
[Unit]
Description=gce.cos agent: containers from instance metadata
Wants=network-online.target gcr-online.target docker.service
After=network-online.target gcr-online.target docker.service
# Never give up restarting: the agent is what keeps the containers converged.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=/bin/bash {agent}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
""".format(agent=AGENT_PATH)


def agent_version():
    """The version the agent reports in cos-agent/agent: 12 hex of the script's SHA-256."""
    return hashlib.sha256(AGENT_SCRIPT.encode("utf-8")).hexdigest()[:12]


def cloud_init_fragment():
    """The cloud-config parts that install and start the agent, as plain data.

    Returns a dict with ``write_files`` and ``runcmd`` lists, to merge into the VM's
    cloud-config. COS keeps /etc on tmpfs, so this runs on every boot; /var/lib/cos-agent
    (persistent) keeps the agent's record of applied revisions.
    """
    return {
        "write_files": [
            {"path": AGENT_PATH, "permissions": "0755", "owner": "root", "content": AGENT_SCRIPT},
            {"path": FETCH_SECRETS_PATH, "permissions": "0755", "owner": "root", "content": FETCH_SECRETS_SCRIPT},
            {"path": AGENT_UNIT_PATH, "permissions": "0644", "owner": "root", "content": AGENT_UNIT},
        ],
        "runcmd": [
            ["systemctl", "daemon-reload"],
            ["systemctl", "restart", AGENT_UNIT_NAME],
        ],
    }
