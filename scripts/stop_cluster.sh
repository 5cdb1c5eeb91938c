#!/usr/bin/env bash
# Stops a Mosaic cluster.
#
#   scripts/stop_cluster.sh [--clean]                (in Docker)
#   scripts/stop_cluster.sh --local [--data DIR]
#
# Without --local: the cluster in Docker (what `make stop-cluster` runs), by
# scripts/docker/down.sh; --clean also removes its data (make clean-cluster).
#
# --local stops the processes scripts/start_cluster.sh --local started in
# DIR (default ./.mosaic): the mount first (if --mount or mount_cluster.sh
# made one), then SIGTERM to each (storage nodes first, exportd
# last, so its deletion worker is not cut off mid-call), then waits for
# them to exit (a daemon still alive after 20 s gets SIGKILL, and the script
# says so). Data, configs and logs stay in DIR; start_cluster.sh starts the
# same cluster again.
set -euo pipefail

LOCAL=0
DATA=./.mosaic
STOP_WAIT_S=20
ARGS=("$@")

while [ $# -gt 0 ]; do
  case "$1" in
    --local) LOCAL=1 ;;
    --data) DATA="$2"; shift ;;
    --clean) ;;  # the Docker cluster's: scripts/docker/down.sh reads it
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stop_cluster: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$LOCAL" -ne 1 ]; then
  exec "$(dirname "${BASH_SOURCE[0]}")/docker/down.sh" "${ARGS[@]}"
fi
if [ ! -d "$DATA/run" ]; then
  echo "stop_cluster: no local cluster in $DATA (no $DATA/run)"
  exit 0
fi
DIR="$(cd "$DATA" && pwd)"

. "$(dirname "${BASH_SOURCE[0]}")/lib/unmount-cluster.sh"
# The mount of start_cluster.sh --mount / mount_cluster.sh goes first.
unmount_cluster_mount "$DIR" "$STOP_WAIT_S"

# pid_of NAME: the live pid of NAME whose command line names DIR, or nothing.
pid_of() {
  local pidfile="$DIR/run/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/"; then
    echo "$pid"
  fi
}

names=()
for pidfile in "$DIR"/run/storaged-*.pid; do [ -e "$pidfile" ] && names+=("$(basename "$pidfile" .pid)"); done
[ -e "$DIR/run/exportd.pid" ] && names+=(exportd)

stop_group() {
  local pids=() name pid
  for name in "$@"; do
    pid="$(pid_of "$name")"
    if [ -z "$pid" ]; then
      echo "stop_cluster: $name is not running"
      rm -f "$DIR/run/$name.pid"
      continue
    fi
    kill -TERM "$pid"
    pids+=("$name:$pid")
  done
  for entry in "${pids[@]}"; do
    name="${entry%%:*}"; pid="${entry##*:}"
    if wait_or_kill "$pid" "$STOP_WAIT_S"; then
      echo "stop_cluster: stopped $name (pid $pid)"
    else
      echo "stop_cluster: $name (pid $pid) did not stop within ${STOP_WAIT_S}s; killing it" >&2
    fi
    rm -f "$DIR/run/$name.pid"
  done
}

storage=()
for name in "${names[@]}"; do [ "$name" != exportd ] && storage+=("$name"); done
[ ${#storage[@]} -gt 0 ] && stop_group "${storage[@]}"
[ -e "$DIR/run/exportd.pid" ] && stop_group exportd
echo "stop_cluster: local cluster in $DIR stopped (data kept)"
