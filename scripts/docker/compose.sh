#!/usr/bin/env bash
# Runs docker-compose on the Docker cluster with its settings, so any
# compose command works on it as set up by make start-cluster.
#
#   scripts/docker/compose.sh ps
#   scripts/docker/compose.sh logs -f storaged-2
#
# It adds --project-name, --env-file (.mosaic/docker/cluster.env) and the
# generated node file (STORAGE_NODES > 4) to docker-compose.yml.
# Environment: MOSAIC_DOCKER_DIR (default .mosaic/docker).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;; esac
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cluster compose.sh
need_engine
compose "$@"
