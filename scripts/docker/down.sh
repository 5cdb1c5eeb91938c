#!/usr/bin/env bash
# Stops the Mosaic cluster in Docker (what `make stop-cluster`, `make
# clean-cluster` and `scripts/stop_cluster.sh` without --local run).
#
#   scripts/docker/down.sh [--clean] [--data DIR]
#
# Unmounts the host mount made by scripts/mount_cluster.sh --data
# .mosaic/docker (or up.sh --mount) and removes the client containers
# (scripts/add_client.sh) first, so their mounts flush and end cleanly while
# the cluster still answers, then the cluster's
# containers (storage nodes and exportd get SIGTERM and drain). Data stays in
# the named volumes and the settings (secret, ports, node count) in
# .mosaic/docker, so `make start-cluster` brings the same cluster back.
#
# --clean   also removes the volumes (every file in the cluster) and the
#           settings: the next start makes a new, empty cluster.
#
# Environment: MOSAIC_DOCKER_DIR (the state directory, default .mosaic/docker).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLEAN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --clean) CLEAN=1 ;;
    --data) STATE_DIR="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stop_cluster: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ ! -f "$STATE_DIR/cluster.env" ]; then
  echo "stop_cluster: no Docker cluster set up in $STATE_DIR (nothing to stop)"
  exit 0
fi
need_engine
PROJECT="$(setting MOSAIC_PROJECT)"
STOP_WAIT_S=20

. "$(dirname "${BASH_SOURCE[0]}")/../lib/unmount-cluster.sh"
unmount_cluster_mount "$STATE_DIR" "$STOP_WAIT_S"

clients="$(docker ps -aq --filter "label=mosaic.project=$PROJECT" --filter label=mosaic.role=client)"
if [ -n "$clients" ]; then
  # shellcheck disable=SC2086 # one id per word
  echo "stop_cluster: removing client container(s): $(docker inspect -f '{{.Name}}' $clients | tr -d / | tr '\n' ' ')"
  # shellcheck disable=SC2086
  docker rm -f $clients >/dev/null
fi

if [ "$CLEAN" -eq 1 ]; then
  compose down --volumes --remove-orphans
  # Volumes of nodes whose generated compose file is gone (a scale-down, a
  # lost state directory) are found by their compose project label.
  leftover="$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")"
  # shellcheck disable=SC2086
  [ -n "$leftover" ] && docker volume rm $leftover >/dev/null
  rm -f "$STATE_DIR/cluster.env" "$STATE_DIR/secret" "$STATE_DIR/client.conf" "$STATE_DIR/compose.nodes.yml"
  echo "stop_cluster: Docker cluster $PROJECT removed, with its data"
else
  compose down --remove-orphans
  echo "stop_cluster: Docker cluster $PROJECT stopped (data kept in its volumes; make start-cluster brings it back)"
fi
