#!/usr/bin/env bash
# Adds a client to the Docker cluster: a mosaic-mountd container with the
# export mounted at /mnt/mosaic (like RozoFS's rozofs-client01).
#
#   scripts/add_client.sh [--name NAME] [--export NAME] [-o OPTIONS]
#
# The container is named PROJECT-clientNN (mosaic-client01, then 02, ...)
# unless --name is given; it runs mountd in the foreground, restarts with
# the engine, and is removed by make stop-cluster. Use it with:
#
#   docker exec -it mosaic-client01 bash        (then: ls /mnt/mosaic)
#   docker exec mosaic-client01 cp /etc/os-release /mnt/mosaic/
#
# Mounting needs /dev/fuse and CAP_SYS_ADMIN, which the container gets
# (--device /dev/fuse --cap-add SYS_ADMIN); mountd runs as root in it.
# Start the cluster first (make start-cluster).
#
# Environment: MOSAIC_DOCKER_DIR (the cluster's state directory, default
# .mosaic/docker), MOSAIC_CLIENT_WAIT_S (default 60).
set -euo pipefail
# shellcheck source=docker/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/docker/lib.sh"

NAME=""
EXPORT_NAME=""
OPTIONS=""
WAIT_S="${MOSAIC_CLIENT_WAIT_S:-60}"
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME="$2"; shift ;;
    --export) EXPORT_NAME="$2"; shift ;;
    -o) OPTIONS="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "add_client: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

need_cluster add_client
need_engine
PROJECT="$(setting MOSAIC_PROJECT)"
TAG="$(setting MOSAIC_IMAGE_TAG)"
EXPORT_NAME="${EXPORT_NAME:-$(setting MOSAIC_EXPORT)}"
if [ "$(docker inspect -f '{{.State.Health.Status}}' "$PROJECT-exportd" 2>/dev/null)" != healthy ]; then
  echo "add_client: the cluster's exportd ($PROJECT-exportd) is not running and healthy; run: make start-cluster" >&2
  exit 1
fi
[ -c /dev/fuse ] || { echo "add_client: /dev/fuse is missing on this host (modprobe fuse); the client container needs it" >&2; exit 1; }

if [ -z "$NAME" ]; then
  for i in $(seq 1 99); do
    NAME="$(printf '%s-client%02d' "$PROJECT" "$i")"
    docker inspect "$NAME" >/dev/null 2>&1 || break
  done
elif docker inspect "$NAME" >/dev/null 2>&1; then
  echo "add_client: a container named $NAME exists already (docker rm -f $NAME to replace it)" >&2
  exit 1
fi

# The secret goes by environment (-e NAME without a value), never on the
# command line; the labels let stop_cluster find the clients.
MOSAIC_SECRET="$(setting MOSAIC_SECRET)" MOSAIC_PORT_BASE="$(setting MOSAIC_PORT_BASE)" \
MOSAIC_EXPORT="$EXPORT_NAME" MOSAIC_MOUNT_OPTIONS="$OPTIONS" MOSAIC_LOG_LEVEL="$(setting MOSAIC_LOG_LEVEL)" \
docker run -d --name "$NAME" --network host \
  --device /dev/fuse --cap-add SYS_ADMIN --security-opt apparmor=unconfined \
  --restart unless-stopped --stop-timeout 20 \
  --label "mosaic.project=$PROJECT" --label mosaic.role=client \
  -e MOSAIC_SECRET -e MOSAIC_PORT_BASE -e MOSAIC_EXPORT -e MOSAIC_MOUNT_OPTIONS -e MOSAIC_LOG_LEVEL \
  "mosaic-mountd:$TAG" >/dev/null

for _ in $(seq 1 $((WAIT_S * 2))); do
  case "$(docker inspect -f '{{.State.Health.Status}}' "$NAME" 2>/dev/null)" in
    healthy)
      echo "add_client: $NAME has export $EXPORT_NAME mounted at /mnt/mosaic"
      echo "  docker exec -it $NAME bash        (ls /mnt/mosaic)"
      echo "  remove it: docker rm -f $NAME      (make stop-cluster removes every client)"
      exit 0 ;;
  esac
  if [ "$(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" != true ] && [ "$(docker inspect -f '{{.RestartCount}}' "$NAME")" -gt 2 ]; then
    break
  fi
  sleep 0.5
done
echo "add_client: $NAME did not mount the export within ${WAIT_S}s; its log:" >&2
docker logs --tail 20 "$NAME" >&2 2>&1 || true
exit 1
