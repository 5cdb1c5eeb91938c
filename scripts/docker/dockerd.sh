#!/usr/bin/env bash
# Makes sure a Docker engine answers, starting one if this machine has none.
#
#   scripts/docker/dockerd.sh [--check]
#
# If `docker info` already answers (a system service, Docker Desktop, a
# dockerd started earlier by this script), nothing is done. Otherwise, as
# root, it starts `dockerd --bridge=none --iptables=false` in the background
# (our test machines allow only loopback traffic, so containers use host
# networking and need no bridge or NAT rules), its log in
# /var/log/mosaic-dockerd.log, and waits up to 60 s until it answers.
#
# --check   only says whether an engine answers (exit 0) or what to do (exit 1).
#
# Environment: MOSAIC_DOCKERD_LOG (default /var/log/mosaic-dockerd.log).
set -euo pipefail

CHECK=0
WAIT_S=60
LOG="${MOSAIC_DOCKERD_LOG:-/var/log/mosaic-dockerd.log}"

while [ $# -gt 0 ]; do
  case "$1" in
    --check) CHECK=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "dockerd.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if ! command -v docker >/dev/null 2>&1; then
  echo "dockerd.sh: the docker command is missing; install Docker first:" >&2
  echo "  sudo scripts/setup-system.sh      (Debian/Ubuntu: installs docker.io, docker-compose, debootstrap)" >&2
  exit 1
fi

answers() { docker info >/dev/null 2>&1; }

if answers; then
  [ "$CHECK" -eq 1 ] && echo "dockerd.sh: the Docker engine answers"
  exit 0
fi
if [ "$CHECK" -eq 1 ]; then
  echo "dockerd.sh: no Docker engine answers (docker info fails); start one with:" >&2
  echo "  sudo scripts/docker/dockerd.sh     (or: sudo systemctl start docker)" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd.sh: no Docker engine answers and dockerd is not installed; run: sudo scripts/setup-system.sh" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "dockerd.sh: no Docker engine answers; starting one needs root:" >&2
  echo "  sudo scripts/docker/dockerd.sh     (or: sudo systemctl start docker)" >&2
  exit 1
fi

# A dockerd that is running but not answering yet (started a moment ago by
# someone else) is waited for rather than doubled: two engines on one
# /var/lib/docker corrupt it.
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "dockerd.sh: starting dockerd --bridge=none --iptables=false (log: $LOG)"
  mkdir -p "$(dirname "$LOG")"
  # setsid: the engine outlives this script and the make or test that called it.
  setsid nohup dockerd --bridge=none --iptables=false >> "$LOG" 2>&1 < /dev/null &
fi

for _ in $(seq 1 $((WAIT_S * 5))); do
  if answers; then echo "dockerd.sh: the Docker engine answers"; exit 0; fi
  sleep 0.2
done
echo "dockerd.sh: dockerd did not answer within ${WAIT_S}s; its log says:" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
