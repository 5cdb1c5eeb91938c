# Shared by the scripts in scripts/docker/ (sourced, not run): where the
# Docker cluster's settings live and how to call docker-compose on it.
#
# State directory MOSAIC_DOCKER_DIR (default .mosaic/docker, git-ignored):
#   secret        the cluster secret (mode 600), generated once
#   cluster.env   the settings docker-compose.yml reads (--env-file)
#   compose.nodes.yml  storage nodes 5..N when STORAGE_NODES > 4
#   client.conf   client config for the host: mosaic --config, mountd, MOSAIC_CONFIG

MOSAIC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${MOSAIC_DOCKER_DIR:-$MOSAIC_ROOT/.mosaic/docker}"

# compose_bin: `docker compose` (v2 plugin) where present, else docker-compose (v1, Debian's).
compose_bin() {
  if docker compose version >/dev/null 2>&1; then echo "docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose
  else
    echo "neither 'docker compose' nor docker-compose is installed; run: sudo scripts/setup-system.sh" >&2
    return 1
  fi
}

# setting NAME: NAME's value in cluster.env (empty if unset).
setting() {
  [ -f "$STATE_DIR/cluster.env" ] || return 0
  sed -n "s/^$1=//p" "$STATE_DIR/cluster.env" | tail -n 1
}

# compose ARGS...: docker-compose on this cluster: its project, settings and node files.
compose() {
  local bin files=(-f "$MOSAIC_ROOT/docker-compose.yml")
  bin="$(compose_bin)" || return 1
  [ -f "$STATE_DIR/compose.nodes.yml" ] && files+=(-f "$STATE_DIR/compose.nodes.yml")
  # shellcheck disable=SC2086 # "docker compose" is two words on purpose
  $bin --project-name "$(setting MOSAIC_PROJECT)" --project-directory "$MOSAIC_ROOT" \
    --env-file "$STATE_DIR/cluster.env" "${files[@]}" "$@"
}

# need_engine: exits with what to do when no Docker engine answers.
need_engine() {
  "$MOSAIC_ROOT/scripts/docker/dockerd.sh" --check >/dev/null 2>&1 && return 0
  "$MOSAIC_ROOT/scripts/docker/dockerd.sh" --check || true
  exit 1
}

# need_cluster PROG: exits with a message when no cluster was set up in STATE_DIR.
need_cluster() {
  if [ ! -f "$STATE_DIR/cluster.env" ]; then
    echo "$1: no Docker cluster set up in $STATE_DIR; start one with: make start-cluster" >&2
    exit 1
  fi
}
