#!/bin/bash
# Entrypoint of the Mosaic images: writes the daemon's config from
# environment variables (or takes a mounted one), then execs the daemon, so
# it runs as PID 1 and gets docker's SIGTERM directly.
#
#   entrypoint.sh exportd|storaged|mountd|init|mosaic [ARGS...]
#
# Environment (all optional unless said):
#   MOSAIC_SECRET / MOSAIC_SECRET_FILE  the cluster secret, or a mounted file
#                          holding it (one of them is required, unless
#                          MOSAIC_CONFIG_FILE names its own secret)
#   MOSAIC_CONFIG_FILE     a mounted YAML config used as is (exportd, storaged)
#   MOSAIC_HOST            address every daemon binds (127.0.0.1: containers
#                          share the host's network)
#   MOSAIC_PORT_BASE       port scheme (default 7400): exportd RPC BASE,
#                          HTTP BASE+1; storaged node I: RPC BASE+10+I,
#                          HTTP BASE+50+I
#   MOSAIC_LISTEN, MOSAIC_HTTP      override the scheme's addresses
#   MOSAIC_EXPORTD         exportd's RPC address (default HOST:BASE)
#   MOSAIC_NODE            storaged: this node's number I (required)
#   MOSAIC_SIDS            storaged: sids served, comma-separated (default I),
#                          each in /var/lib/mosaic/storaged/sidN
#   MOSAIC_NODE_DOWN_AFTER exportd: silence before a node is down (default 10s)
#   MOSAIC_LOG_LEVEL       error, warn, info (default) or debug
#   MOSAIC_EXPORT          mountd and init: the export (default mosaic)
#   MOSAIC_MOUNTPOINT      mountd: where the export is mounted (/mnt/mosaic)
#   MOSAIC_MOUNT_OPTIONS   mountd: extra -o options (e.g. allow_other)
#   init: STORAGE_NODES, MOSAIC_VOLUME, MOSAIC_LAYOUT, MOSAIC_CODEC (see
#         init-cluster.sh)
set -euo pipefail

role="${1:-}"
[ $# -gt 0 ] && shift
RUN=/run/mosaic
HOST="${MOSAIC_HOST:-127.0.0.1}"
BASE="${MOSAIC_PORT_BASE:-7400}"
EXPORTD="${MOSAIC_EXPORTD:-$HOST:$BASE}"
LOG_LEVEL="${MOSAIC_LOG_LEVEL:-info}"

die() { echo "mosaic entrypoint ($role): $*" >&2; exit 1; }
case "$BASE" in ''|*[!0-9]*) die "MOSAIC_PORT_BASE must be a number, got '$BASE'" ;; esac

# secret: MOSAIC_SECRET_FILE (a mounted file, first line) or MOSAIC_SECRET,
# copied to a file only this user reads, so configs name a file and the
# secret never appears on a command line.
secret() {
  local value=""
  if [ -n "${MOSAIC_SECRET_FILE:-}" ]; then
    [ -r "$MOSAIC_SECRET_FILE" ] || die "MOSAIC_SECRET_FILE=$MOSAIC_SECRET_FILE is not readable"
    value="$(head -n 1 "$MOSAIC_SECRET_FILE")"
  else
    value="${MOSAIC_SECRET:-}"
  fi
  [ -n "$value" ] || die "no cluster secret: set MOSAIC_SECRET or MOSAIC_SECRET_FILE (make start-cluster does it for you)"
  (umask 077; printf '%s\n' "$value" > "$RUN/secret")
  printf '%s' "$value"
}

# client_conf SECRET: the client config of mosaic and mountd in this container.
client_conf() {
  (umask 077; cat > "$RUN/client.conf" <<CONF
exportd: $EXPORTD
secret: $1
export: ${MOSAIC_EXPORT:-mosaic}
CONF
  )
}

# mounted_config: use MOSAIC_CONFIG_FILE as is; 1 if none was given.
mounted_config() {
  [ -n "${MOSAIC_CONFIG_FILE:-}" ] || return 1
  [ -r "$MOSAIC_CONFIG_FILE" ] || die "MOSAIC_CONFIG_FILE=$MOSAIC_CONFIG_FILE is not readable"
  cp "$MOSAIC_CONFIG_FILE" "$RUN/config.yml"
  if ! grep -Eq '^(secret|secretFile):' "$RUN/config.yml"; then
    printf 'secretFile: %s\n' "$RUN/secret" >> "$RUN/config.yml"
    secret >/dev/null
  fi
}

mkdir -p "$RUN"
printf '%s\n' "$role" > "$RUN/role"

case "$role" in
  exportd)
    if ! mounted_config; then
      s="$(secret)"
      mkdir -p /var/lib/mosaic/exportd
      cat > "$RUN/config.yml" <<CONF
# written by the image's entrypoint from MOSAIC_* environment variables
listen: ${MOSAIC_LISTEN:-$HOST:$BASE}
http: ${MOSAIC_HTTP:-$HOST:$((BASE + 1))}
secretFile: $RUN/secret
dataDir: /var/lib/mosaic/exportd
nodeDownAfterMs: ${MOSAIC_NODE_DOWN_AFTER:-10s}
logLevel: $LOG_LEVEL
CONF
      EXPORTD="$(sed -n 's/^listen: //p' "$RUN/config.yml")"
      client_conf "$s"
    fi
    exec node /opt/mosaic/dist/exportd/main.js --config "$RUN/config.yml" "$@"
    ;;
  storaged)
    if ! mounted_config; then
      node_i="${MOSAIC_NODE:-}"
      case "$node_i" in ''|*[!0-9]*) die "MOSAIC_NODE must be this node's number (1, 2, ...), got '$node_i'" ;; esac
      secret >/dev/null
      {
        echo "# written by the image's entrypoint from MOSAIC_* environment variables"
        echo "listen: ${MOSAIC_LISTEN:-$HOST:$((BASE + 10 + node_i))}"
        echo "http: ${MOSAIC_HTTP:-$HOST:$((BASE + 50 + node_i))}"
        [ -n "${MOSAIC_ADVERTISE:-}" ] && echo "advertise: $MOSAIC_ADVERTISE"
        echo "secretFile: $RUN/secret"
        echo "exportd: $EXPORTD"
        echo "logLevel: $LOG_LEVEL"
        echo "sids:"
        IFS=, read -r -a sids <<< "${MOSAIC_SIDS:-$node_i}"
        for sid in "${sids[@]}"; do
          case "$sid" in ''|*[!0-9]*) die "MOSAIC_SIDS must be numbers separated by commas, got '${MOSAIC_SIDS:-}'" ;; esac
          mkdir -p "/var/lib/mosaic/storaged/sid$sid"
          echo "  - { sid: $sid, path: /var/lib/mosaic/storaged/sid$sid }"
        done
      } > "$RUN/config.yml"
    fi
    exec node /opt/mosaic/dist/storaged/main.js --config "$RUN/config.yml" "$@"
    ;;
  mountd)
    client_conf "$(secret)"
    mnt="${MOSAIC_MOUNTPOINT:-/mnt/mosaic}"
    printf '%s\n' "$mnt" > "$RUN/mountpoint"
    mkdir -p "$mnt"
    [ -c /dev/fuse ] || die "/dev/fuse is missing: run the container with --device /dev/fuse --cap-add SYS_ADMIN (scripts/add_client.sh does)"
    opts=()
    [ -n "${MOSAIC_MOUNT_OPTIONS:-}" ] && opts=(-o "$MOSAIC_MOUNT_OPTIONS")
    exec node /opt/mosaic/dist/mountd/main.js mount "${MOSAIC_EXPORT:-mosaic}" "$mnt" \
      --config "$RUN/client.conf" --foreground --log-level "$LOG_LEVEL" "${opts[@]}" "$@"
    ;;
  init)
    client_conf "$(secret)"
    exec /opt/mosaic/images/init-cluster.sh "$@"
    ;;
  mosaic)
    client_conf "$(secret)"
    exec node /opt/mosaic/dist/exportd/cli/main.js --config "$RUN/client.conf" "$@"
    ;;
  *)
    echo "usage: entrypoint.sh exportd|storaged|mountd|init|mosaic [ARGS...]" >&2
    exit 2
    ;;
esac
