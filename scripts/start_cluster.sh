#!/usr/bin/env bash
# Starts a Mosaic cluster.
#
#   scripts/start_cluster.sh [--nodes 4] [--layout 2+1] ...     (in Docker)
#   scripts/start_cluster.sh --local [--nodes 6] [--layout 4+2] [--codec rs|mojette]
#                            [--data DIR] [--export NAME] [--base-port 7000] [--mount DIR]
#
# Without --local: the cluster in Docker (what `make start-cluster` runs),
# by scripts/docker/up.sh with the same flags; see its --help.
#
# --local runs one exportd and N storaged processes (one sid each) on
# 127.0.0.1, with everything (configs, data, logs, pid files, the secret)
# under DIR (default ./.mosaic); every daemon's command line names DIR, so
# `ps` shows which cluster a process belongs to. Then it creates the volume
# (`vol1`) with the layout, adds every node, creates the export, and writes
# DIR/client.conf (exportd, secret, export) for `mosaic --config` / mountd /
# MOSAIC_CONFIG. With --mount DIR, the export is then mounted at DIR
# (scripts/mount_cluster.sh; stop_cluster.sh unmounts it).
#
# Idempotent: a daemon already running is left alone (and said so); the
# volume, nodes and export are only created when missing; the secret and the
# ports are generated once and kept in DIR.
#
# Ports: exportd RPC BASE, exportd HTTP BASE+80, storaged i RPC BASE+100+i,
# storaged i HTTP BASE+200+i (i = 1..N).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL=0
NODES=6
LAYOUT=4+2
CODEC=rs
DATA=./.mosaic
EXPORT_NAME=mosaic
BASE_PORT=7000
VOLUME=vol1
MOUNT_DIR=""
HEARTBEAT_WAIT_S=60
ARGS=("$@")

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --local) LOCAL=1 ;;
    --nodes) NODES="$2"; shift ;;
    --layout) LAYOUT="$2"; shift ;;
    --codec) CODEC="$2"; shift ;;
    --data) DATA="$2"; shift ;;
    --export) EXPORT_NAME="$2"; shift ;;
    --base-port) BASE_PORT="$2"; shift ;;
    --mount) MOUNT_DIR="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "start_cluster: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$LOCAL" -ne 1 ]; then
  exec "$ROOT/scripts/docker/up.sh" "${ARGS[@]}"
fi

case "$NODES" in ''|*[!0-9]*) echo "start_cluster: --nodes must be a number, got $NODES" >&2; exit 2 ;; esac
case "$BASE_PORT" in ''|*[!0-9]*) echo "start_cluster: --base-port must be a number, got $BASE_PORT" >&2; exit 2 ;; esac
if [ "$NODES" -lt 1 ] || [ "$NODES" -gt 99 ]; then echo "start_cluster: --nodes must be 1..99" >&2; exit 2; fi

mkdir -p "$DATA"
DIR="$(cd "$DATA" && pwd)"
mkdir -p "$DIR/logs" "$DIR/run" "$DIR/exportd"

if [ ! -f "$ROOT/dist/exportd/main.js" ] || [ ! -f "$ROOT/dist/storaged/main.js" ]; then
  echo "start_cluster: building (npx tsc -p .)"
  (cd "$ROOT" && npx tsc -p . >/dev/null) || true
  [ -f "$ROOT/dist/exportd/main.js" ] && [ -f "$ROOT/dist/storaged/main.js" ] || { echo "start_cluster: build failed; run make build" >&2; exit 1; }
fi

# The secret is generated once and kept (mode 600) so re-runs and clients agree.
if [ ! -s "$DIR/secret" ]; then
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$DIR/secret")
fi
SECRET="$(cat "$DIR/secret")"

EXPORTD_ADDR="127.0.0.1:$BASE_PORT"
EXPORTD_HTTP="127.0.0.1:$((BASE_PORT + 80))"

# Configs are written once: a re-run keeps the ports and paths of the first run.
if [ ! -f "$DIR/exportd.yml" ]; then
  cat > "$DIR/exportd.yml" <<EOF
# exportd of the local cluster in $DIR (written by start_cluster.sh)
listen: $EXPORTD_ADDR
http: $EXPORTD_HTTP
secretFile: $DIR/secret
dataDir: $DIR/exportd
logFile: $DIR/logs/exportd.log
EOF
fi
EXPORTD_ADDR="$(sed -n 's/^listen: //p' "$DIR/exportd.yml")"
EXPORTD_HTTP="$(sed -n 's/^http: //p' "$DIR/exportd.yml")"

for i in $(seq 1 "$NODES"); do
  conf="$DIR/storaged-$i.yml"
  mkdir -p "$DIR/storaged-$i/sid$i"
  if [ ! -f "$conf" ]; then
    cat > "$conf" <<EOF
# storaged $i of the local cluster in $DIR (written by start_cluster.sh)
listen: 127.0.0.1:$((BASE_PORT + 100 + i))
http: 127.0.0.1:$((BASE_PORT + 200 + i))
secretFile: $DIR/secret
exportd: $EXPORTD_ADDR
sids:
  - sid: $i
    path: $DIR/storaged-$i/sid$i
logFile: $DIR/logs/storaged-$i.log
EOF
  fi
done

cat > "$DIR/client.conf.tmp" <<EOF
# Mosaic client config of the local cluster in $DIR: mosaic --config, mountd, MOSAIC_CONFIG
exportd: $EXPORTD_ADDR
secret: $SECRET
export: $EXPORT_NAME
EOF
chmod 600 "$DIR/client.conf.tmp"
mv "$DIR/client.conf.tmp" "$DIR/client.conf"

# is_running NAME: the pid file names a live process whose command line names DIR.
is_running() {
  local pidfile="$DIR/run/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/"
}

# start NAME BIN: runs `node BIN --config DIR/NAME.yml` in the background, its output in DIR/logs.
start() {
  local name="$1" bin="$2"
  if is_running "$name"; then
    echo "start_cluster: $name already running (pid $(cat "$DIR/run/$name.pid"))"
    return
  fi
  nohup node "$ROOT/$bin" --config "$DIR/$name.yml" >> "$DIR/logs/$name.out" 2>&1 < /dev/null &
  echo $! > "$DIR/run/$name.pid"
  echo "start_cluster: started $name (pid $!)"
}

# wait_health NAME ADDR: polls http://ADDR/health until it answers 200 (or the process dies).
wait_health() {
  local name="$1" addr="$2"
  for _ in $(seq 1 300); do
    if node -e "fetch('http://$addr/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" 2>/dev/null; then return 0; fi
    if ! is_running "$name"; then
      echo "start_cluster: $name exited; its log says:" >&2
      tail -n 20 "$DIR/logs/$name.out" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "start_cluster: $name did not become healthy on http://$addr/health; see $DIR/logs/$name.out" >&2
  exit 1
}

MOSAIC=(node "$ROOT/dist/exportd/cli/main.js" --config "$DIR/client.conf")
# json EXPR ARGS...: runs `mosaic --json ARGS` and prints EXPR evaluated on its output (as `v`).
json() {
  local expr="$1"; shift
  "${MOSAIC[@]}" --json "$@" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const v=JSON.parse(s);console.log($expr)})"
}

start exportd dist/exportd/main.js
wait_health exportd "$EXPORTD_HTTP"
for i in $(seq 1 "$NODES"); do start "storaged-$i" dist/storaged/main.js; done
for i in $(seq 1 "$NODES"); do wait_health "storaged-$i" "$(sed -n 's/^http: //p' "$DIR/storaged-$i.yml")"; done

if [ "$(json "v.some(x => x.name === '$VOLUME')" volume list)" != "true" ]; then
  "${MOSAIC[@]}" volume create "$VOLUME" --layout "$LAYOUT" --codec "$CODEC" >/dev/null
  echo "start_cluster: created volume $VOLUME ($CODEC $LAYOUT)"
fi

# Nodes register with their first heartbeat; wait for all N, then add those not yet members.
for _ in $(seq 1 $((HEARTBEAT_WAIT_S * 5))); do
  [ "$(json "v.length" node list)" -ge "$NODES" ] && break
  sleep 0.2
done
registered="$(json "v.length" node list)"
[ "$registered" -ge "$NODES" ] || { echo "start_cluster: only $registered of $NODES storage nodes registered with exportd; see $DIR/logs" >&2; exit 1; }
added="$(json "v.length" node add --all --volume "$VOLUME")"
[ "$added" -gt 0 ] && echo "start_cluster: added $added node(s) to volume $VOLUME"

if [ "$(json "v.some(x => x.name === '$EXPORT_NAME')" export list)" != "true" ]; then
  "${MOSAIC[@]}" export create "$EXPORT_NAME" --volume "$VOLUME" >/dev/null
  echo "start_cluster: created export $EXPORT_NAME"
fi

if [ -n "$MOUNT_DIR" ]; then
  "$ROOT/scripts/mount_cluster.sh" "$MOUNT_DIR" --data "$DIR"
fi

"${MOSAIC[@]}" status
cat <<EOF

Local Mosaic cluster running in $DIR
  client config: $DIR/client.conf   (export MOSAIC_CONFIG=$DIR/client.conf; mosaic status)
  logs:          $DIR/logs/
  stop:          scripts/stop_cluster.sh --local --data $DIR
EOF
