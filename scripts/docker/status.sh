#!/usr/bin/env bash
# Shows the Docker cluster: its containers (state, health) and `mosaic
# status` run inside exportd's container (what `make status` runs).
#
#   scripts/docker/status.sh [--json]
#
# --json   only `mosaic --json status` (for scripts).
# Environment: MOSAIC_DOCKER_DIR (the state directory, default .mosaic/docker).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JSON=0
while [ $# -gt 0 ]; do
  case "$1" in
    --json) JSON=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "status: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
need_cluster status
need_engine
PROJECT="$(setting MOSAIC_PROJECT)"

if [ "$(docker inspect -f '{{.State.Running}}' "$PROJECT-exportd" 2>/dev/null)" != true ]; then
  echo "status: exportd ($PROJECT-exportd) is not running; start the cluster with: make start-cluster" >&2
  exit 1
fi
if [ "$JSON" -eq 1 ]; then exec docker exec "$PROJECT-exportd" mosaic --json status; fi
# Every container is named PROJECT-...: the cluster's and the clients'.
docker ps -a --filter "name=^$PROJECT-" --format 'table {{.Names}}\t{{.Status}}'

echo
docker exec "$PROJECT-exportd" mosaic status
