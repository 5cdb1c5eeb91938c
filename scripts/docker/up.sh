#!/usr/bin/env bash
# Starts the Mosaic cluster in Docker (what `make start-cluster` and
# `scripts/start_cluster.sh` without --local run): exportd and STORAGE_NODES
# storage nodes (default 4) on this host, initialised on first start.
#
#   scripts/docker/up.sh [--nodes N] [--layout K+M] [--codec rs|mojette]
#                        [--export NAME] [--base-port PORT] [--data DIR]
#                        [--mount MOUNTPOINT]
#
# Steps: makes sure a Docker engine answers (starts dockerd as root if
# none), builds the images if missing (make images), writes the settings
# (.mosaic/docker: secret generated once, cluster.env, client.conf), starts
# the containers, waits until every daemon is healthy and the one-shot
# `init` container has created the volume (2+1 below 6 nodes, 4+2 from 6),
# added the nodes and created the export, then prints `mosaic status`.
#
# Idempotent: running containers are left alone, existing volume, nodes and
# export are kept. --mount also mounts the export on this host
# (scripts/mount_cluster.sh --data .mosaic/docker; stop_cluster unmounts it). Settings are remembered in cluster.env: a later start
# without them reuses them; a larger --nodes (STORAGE_NODES) adds nodes.
#
# Environment (flags win): STORAGE_NODES, MOSAIC_LAYOUT, MOSAIC_CODEC,
# MOSAIC_EXPORT, MOSAIC_PORT_BASE (default 7400: exportd 7400 and HTTP
# 7401, node I 7410+I and HTTP 7450+I), MOSAIC_PROJECT (compose project and
# container prefix, default mosaic), MOSAIC_IMAGE_TAG (default latest),
# MOSAIC_NODE_DOWN_AFTER (10s), MOSAIC_LOG_LEVEL, MOSAIC_DOCKER_DIR (the
# state directory, default .mosaic/docker; --data), MOSAIC_START_WAIT_S (180).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WAIT_S="${MOSAIC_START_WAIT_S:-180}"
MOUNT_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) STORAGE_NODES="$2"; shift ;;
    --layout) MOSAIC_LAYOUT="$2"; shift ;;
    --codec) MOSAIC_CODEC="$2"; shift ;;
    --export) MOSAIC_EXPORT="$2"; shift ;;
    --base-port) MOSAIC_PORT_BASE="$2"; shift ;;
    --data) STATE_DIR="$2"; shift ;;
    --mount) MOUNT_DIR="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "start_cluster: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"

# An engine: started here (as root) when none answers.
if ! "$MOSAIC_ROOT/scripts/docker/dockerd.sh"; then exit 1; fi
compose_bin >/dev/null

# pick NAME DEFAULT: the environment's NAME, else the remembered one, else DEFAULT.
pick() {
  local name="$1" default="$2" remembered
  if [ -n "${!name:-}" ]; then printf '%s' "${!name}"; return; fi
  remembered="$(setting "$name")"
  printf '%s' "${remembered:-$default}"
}
NODES="$(pick STORAGE_NODES 4)"
BASE="$(pick MOSAIC_PORT_BASE 7400)"
PROJECT="$(pick MOSAIC_PROJECT mosaic)"
TAG="$(pick MOSAIC_IMAGE_TAG latest)"
LAYOUT="$(pick MOSAIC_LAYOUT '')"
CODEC="$(pick MOSAIC_CODEC rs)"
EXPORT_NAME="$(pick MOSAIC_EXPORT mosaic)"
VOLUME="$(pick MOSAIC_VOLUME vol1)"
DOWN_AFTER="$(pick MOSAIC_NODE_DOWN_AFTER 10s)"
LOG_LEVEL="$(pick MOSAIC_LOG_LEVEL info)"
case "$NODES" in ''|*[!0-9]*) echo "start_cluster: STORAGE_NODES must be a number, got $NODES" >&2; exit 2 ;; esac
case "$BASE" in ''|*[!0-9]*) echo "start_cluster: MOSAIC_PORT_BASE must be a number, got $BASE" >&2; exit 2 ;; esac
# The port scheme gives nodes BASE+11..BASE+49 (HTTP BASE+51..BASE+89).
if [ "$NODES" -lt 3 ] || [ "$NODES" -gt 39 ]; then
  echo "start_cluster: STORAGE_NODES must be 3..39 (the smallest layout, 2+1, writes to 3 nodes), got $NODES" >&2; exit 2
fi
case "$PROJECT" in *[!a-z0-9_-]*|'') echo "start_cluster: MOSAIC_PROJECT must be lower-case letters, digits, - or _, got $PROJECT" >&2; exit 2 ;; esac
before="$(setting STORAGE_NODES)"
if [ -n "$before" ] && [ "$NODES" -lt "$before" ]; then
  echo "start_cluster: this cluster has $before storage nodes; starting only $NODES leaves the others' data unreachable." >&2
  echo "start_cluster: to remove nodes, drain them first (mosaic node drain); to start afresh: make clean-cluster" >&2
  exit 2
fi

for target in exportd storaged mountd; do
  if ! docker image inspect "mosaic-$target:$TAG" >/dev/null 2>&1; then
    echo "start_cluster: image mosaic-$target:$TAG is missing; building the images (make images)"
    "$MOSAIC_ROOT/scripts/docker/images.sh" --tag "$TAG"
    break
  fi
done

# The secret is generated once and kept (mode 600): volumes hold data
# written under it and clients need it.
if [ ! -s "$STATE_DIR/secret" ]; then
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$STATE_DIR/secret")
fi
SECRET="$(cat "$STATE_DIR/secret")"

(umask 077; cat > "$STATE_DIR/cluster.env.tmp" <<ENV
# Settings of the Docker cluster, read by docker-compose.yml (--env-file);
# written by scripts/docker/up.sh, which reuses them on the next start.
MOSAIC_PROJECT=$PROJECT
MOSAIC_IMAGE_TAG=$TAG
MOSAIC_PORT_BASE=$BASE
STORAGE_NODES=$NODES
MOSAIC_LAYOUT=$LAYOUT
MOSAIC_CODEC=$CODEC
MOSAIC_EXPORT=$EXPORT_NAME
MOSAIC_VOLUME=$VOLUME
MOSAIC_NODE_DOWN_AFTER=$DOWN_AFTER
MOSAIC_LOG_LEVEL=$LOG_LEVEL
MOSAIC_SECRET=$SECRET
ENV
)
mv "$STATE_DIR/cluster.env.tmp" "$STATE_DIR/cluster.env"
# The environment wins over --env-file in docker-compose: keep both the same.
export MOSAIC_PROJECT="$PROJECT" MOSAIC_IMAGE_TAG="$TAG" MOSAIC_PORT_BASE="$BASE" STORAGE_NODES="$NODES" \
  MOSAIC_LAYOUT="$LAYOUT" MOSAIC_CODEC="$CODEC" MOSAIC_EXPORT="$EXPORT_NAME" MOSAIC_VOLUME="$VOLUME" \
  MOSAIC_NODE_DOWN_AFTER="$DOWN_AFTER" MOSAIC_LOG_LEVEL="$LOG_LEVEL" MOSAIC_SECRET="$SECRET"

(umask 077; cat > "$STATE_DIR/client.conf" <<CONF
# Mosaic client config of the Docker cluster $PROJECT: mosaic --config, mountd, MOSAIC_CONFIG
exportd: 127.0.0.1:$BASE
secret: $SECRET
export: $EXPORT_NAME
CONF
)

# Nodes 5..N: the same service shape as storaged-1..4 in docker-compose.yml.
rm -f "$STATE_DIR/compose.nodes.yml"
if [ "$NODES" -gt 4 ]; then
  {
    echo "# storage nodes 5..$NODES of the Docker cluster (generated by scripts/docker/up.sh)"
    echo 'version: "2.4"'
    echo "services:"
    for i in $(seq 5 "$NODES"); do
      cat <<NODE
  storaged-$i:
    image: mosaic-storaged:\${MOSAIC_IMAGE_TAG:-latest}
    container_name: \${MOSAIC_PROJECT:-mosaic}-storaged-$i
    network_mode: host
    restart: unless-stopped
    stop_grace_period: 20s
    healthcheck: { test: ["CMD", "/opt/mosaic/images/health.sh"], interval: 5s, timeout: 4s, retries: 3, start_period: 60s }
    depends_on: { exportd: { condition: service_healthy } }
    environment:
      MOSAIC_SECRET: \${MOSAIC_SECRET:-}
      MOSAIC_PORT_BASE: \${MOSAIC_PORT_BASE:-7400}
      MOSAIC_LOG_LEVEL: \${MOSAIC_LOG_LEVEL:-info}
      MOSAIC_NODE: $i
    volumes: [ "storaged-$i:/var/lib/mosaic" ]
NODE
    done
    echo "volumes:"
    for i in $(seq 5 "$NODES"); do echo "  storaged-$i:"; done
  } > "$STATE_DIR/compose.nodes.yml"
fi

services=(exportd)
for i in $(seq 1 "$NODES"); do services+=("storaged-$i"); done
echo "start_cluster: starting ${services[*]} (project $PROJECT)"
compose up -d "${services[@]}" init

# health NAME: the container's health (healthy, starting, unhealthy) or its state.
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$1" 2>/dev/null || echo missing; }

deadline=$((SECONDS + WAIT_S))
pending=("${services[@]}")
while [ ${#pending[@]} -gt 0 ]; do
  still=()
  for s in "${pending[@]}"; do [ "$(health "$PROJECT-$s")" = healthy ] || still+=("$s"); done
  pending=("${still[@]+"${still[@]}"}")
  [ ${#pending[@]} -eq 0 ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "start_cluster: not healthy after ${WAIT_S}s: ${pending[*]}; their last log lines:" >&2
    for s in "${pending[@]}"; do echo "--- $PROJECT-$s ($(health "$PROJECT-$s"))" >&2; docker logs --tail 15 "$PROJECT-$s" >&2 2>&1 || true; done
    exit 1
  fi
  sleep 1
done
echo "start_cluster: exportd and $NODES storage nodes are healthy"

# The init container: wait for it to finish, then check how.
left=$((deadline - SECONDS)); [ "$left" -lt 30 ] && left=30
if ! code="$(timeout "$left" docker wait "$PROJECT-init")"; then
  echo "start_cluster: initialisation did not finish within ${left}s; its log:" >&2
  docker logs "$PROJECT-init" >&2 2>&1 || true
  exit 1
fi
# Only this run's lines: the container keeps the log of every earlier start.
started="$(docker inspect -f '{{.State.StartedAt}}' "$PROJECT-init")"
docker logs --since "$started" "$PROJECT-init" 2>&1 | sed -n 's/^init: /start_cluster: /p'

if [ "$code" != 0 ]; then
  echo "start_cluster: initialisation failed (exit $code); its log:" >&2
  docker logs "$PROJECT-init" >&2 2>&1 || true
  exit 1
fi

docker exec "$PROJECT-exportd" mosaic status
if [ -n "$MOUNT_DIR" ]; then
  echo
  "$MOSAIC_ROOT/scripts/mount_cluster.sh" "$MOUNT_DIR" --data "$STATE_DIR"
fi
cat <<EOF

Mosaic cluster "$PROJECT" running in Docker ($NODES storage nodes)
  exportd:        127.0.0.1:$BASE (health: http://127.0.0.1:$((BASE + 1))/health)
  storage nodes:  127.0.0.1:$((BASE + 11))..$((BASE + 10 + NODES)) (health: :$((BASE + 51))..$((BASE + 50 + NODES)))
  client config:  $STATE_DIR/client.conf   (MOSAIC_CONFIG=$STATE_DIR/client.conf node dist/exportd/cli/main.js status)
  status:         make status
  add a client:   scripts/add_client.sh        (a container with the export at /mnt/mosaic)
  mount on host:  scripts/mount_cluster.sh /mnt/fs --data $STATE_DIR
  logs:           scripts/docker/compose.sh logs -f
  stop:           make stop-cluster (data kept)   make clean-cluster (data removed)
EOF
