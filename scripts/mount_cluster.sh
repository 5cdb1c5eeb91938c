#!/usr/bin/env bash
# Mounts the export of a running Mosaic cluster on this host over FUSE.
#
#   scripts/mount_cluster.sh MOUNTPOINT [--data DIR] [--export NAME] [MOUNTD OPTIONS...]
#
# Reads DIR/client.conf for exportd, the secret and the export (default:
# ./.mosaic, the local cluster's, when it exists; otherwise
# .mosaic/docker, the Docker cluster's, written by make start-cluster),
# creates MOUNTPOINT if
# needed and runs `mountd mount --daemon`; it returns once the mount is up.
# The mount process logs to DIR/logs/mountd.log; its pid and mountpoint are
# kept in DIR/run/ so stop_cluster.sh unmounts it (SIGTERM: open files are
# flushed first). Options after the known ones go to mountd mount as they
# are (e.g. -o allow_other --memory-max 512MiB). Already mounted: says so.
# Unmount by hand: kill -TERM "$(cat DIR/run/mountd.pid)" (or fusermount -u MOUNTPOINT).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA=""
EXPORT_NAME=""
MOUNTPOINT=""
EXTRA=()
MOUNT_WAIT_S=30

while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA="$2"; shift ;;
    --export) EXPORT_NAME="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) EXTRA+=("$1"); if [ $# -gt 1 ] && [ "${2#-}" = "$2" ] && [ "$1" != --foreground ] && [ "$1" != --daemon ]; then EXTRA+=("$2"); shift; fi ;;
    *) if [ -z "$MOUNTPOINT" ]; then MOUNTPOINT="$1"; else echo "mount_cluster: unexpected argument $1 (see --help)" >&2; exit 2; fi ;;
  esac
  shift
done

[ -n "$MOUNTPOINT" ] || { echo "mount_cluster: give a MOUNTPOINT (see --help)" >&2; exit 2; }
if [ -z "$DATA" ]; then
  if [ -f ./.mosaic/client.conf ]; then DATA=./.mosaic
  elif [ -f "$ROOT/.mosaic/docker/client.conf" ]; then DATA="$ROOT/.mosaic/docker"
  else DATA=./.mosaic
  fi
fi
[ -f "$DATA/client.conf" ] || { echo "mount_cluster: no $DATA/client.conf: start the cluster first (scripts/start_cluster.sh --local --data $DATA)" >&2; exit 1; }
DIR="$(cd "$DATA" && pwd)"
mkdir -p "$MOUNTPOINT" "$DIR/run" "$DIR/logs"
MNT="$(cd "$MOUNTPOINT" && pwd)"
[ -n "$EXPORT_NAME" ] || EXPORT_NAME="$(sed -n 's/^export: //p' "$DIR/client.conf")"
[ -n "$EXPORT_NAME" ] || { echo "mount_cluster: $DIR/client.conf names no export; pass --export NAME" >&2; exit 1; }

if grep -qF " $MNT fuse.mosaic " /proc/mounts; then
  echo "mount_cluster: $MNT is already mounted"
  exit 0
fi
[ -f "$ROOT/dist/mountd/main.js" ] || (cd "$ROOT" && npx tsc -p . >/dev/null) || true

out="$(node "$ROOT/dist/mountd/main.js" mount --config "$DIR/client.conf" --daemon --log-file "$DIR/logs/mountd.log" "${EXTRA[@]}" "$EXPORT_NAME" "$MNT")" || {
  echo "mount_cluster: mountd failed; $DIR/logs/mountd.log says:" >&2
  tail -n 20 "$DIR/logs/mountd.log" >&2 || true
  exit 1
}
pid="$(printf '%s\n' "$out" | sed -n 's/.*(mountd pid \([0-9]*\)).*/\1/p')"
echo "$pid" > "$DIR/run/mountd.pid"
echo "$MNT" > "$DIR/run/mountpoint"
for _ in $(seq 1 $((MOUNT_WAIT_S * 10))); do grep -qF " $MNT fuse.mosaic " /proc/mounts && break; sleep 0.1; done
grep -qF " $MNT fuse.mosaic " /proc/mounts || { echo "mount_cluster: $MNT did not appear in /proc/mounts; see $DIR/logs/mountd.log" >&2; exit 1; }
echo "mount_cluster: export $EXPORT_NAME mounted at $MNT (mountd pid $pid, log $DIR/logs/mountd.log)"
