#!/bin/bash
# Container health check (Docker HEALTHCHECK / compose healthcheck).
#
#   health.sh
#
# exportd and storaged: GET /health on the HTTP address of the config the
# entrypoint ran the daemon with (/run/mosaic/config.yml), healthy on 200.
# Plain bash (/dev/tcp), not node: a check runs every few seconds in every
# container, and starting node each time would cost more CPU than the
# daemons idle. mountd: healthy while its mountpoint is mounted.
set -euo pipefail

role="$(cat /run/mosaic/role 2>/dev/null || true)"
if [ "$role" = mountd ]; then
  mnt="$(cat /run/mosaic/mountpoint)"
  grep -q " $mnt fuse" /proc/mounts
  exit
fi
addr="$(sed -n 's/^http:[[:space:]]*["'\'']\{0,1\}\([^"'\'' ]*\).*/\1/p' /run/mosaic/config.yml | head -n 1)"
[ -n "$addr" ] || { echo "health.sh: no http: address in /run/mosaic/config.yml" >&2; exit 1; }
host="${addr%:*}"; port="${addr##*:}"
[ "$host" = 0.0.0.0 ] && host=127.0.0.1
exec 3<>"/dev/tcp/$host/$port"
printf 'GET /health HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3
IFS= read -r -t 3 status <&3
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "health.sh: $addr/health answered: $status" >&2; exit 1 ;;
esac
