#!/bin/bash
# One-shot initialisation of a Mosaic cluster (the compose service `init`):
# once STORAGE_NODES storage nodes have registered with exportd, creates the
# volume, adds every registered node that is not a member yet, and creates
# the export. Idempotent: what exists is left alone, so it runs on every
# `make start-cluster` and only acts on the first (or after a scale-up,
# where it adds the new nodes).
#
# Environment (set by docker-compose.yml):
#   STORAGE_NODES   nodes to wait for (default 4)
#   MOSAIC_VOLUME   volume name (default vol1)
#   MOSAIC_LAYOUT   layout of a new volume (default: 2+1 below 6 nodes, like
#                   RozoFS's layout 0; 4+2 from 6 nodes)
#   MOSAIC_CODEC    rs (default) or mojette
#   MOSAIC_EXPORT   export name (default mosaic)
#   MOSAIC_INIT_WAIT_S  how long to wait for the nodes (default 120)
# A volume's layout is fixed when it is created: scaling up later adds the
# new nodes to the existing volume and keeps its layout.
set -euo pipefail

NODES="${STORAGE_NODES:-4}"
VOLUME="${MOSAIC_VOLUME:-vol1}"
EXPORT_NAME="${MOSAIC_EXPORT:-mosaic}"
CODEC="${MOSAIC_CODEC:-rs}"
WAIT_S="${MOSAIC_INIT_WAIT_S:-120}"
if [ -n "${MOSAIC_LAYOUT:-}" ]; then LAYOUT="$MOSAIC_LAYOUT"
elif [ "$NODES" -ge 6 ]; then LAYOUT=4+2
else LAYOUT=2+1
fi

mosaic() { node /opt/mosaic/dist/exportd/cli/main.js --config /run/mosaic/client.conf "$@"; }
# json EXPR ARGS...: `mosaic --json ARGS`, then EXPR evaluated on its output (as v).
json() {
  local expr="$1"; shift
  mosaic --json "$@" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const v=JSON.parse(s);console.log($expr)})"
}

# exportd answers /health before its RPC may; retry the first call briefly.
for _ in $(seq 1 50); do json "v.length" node list >/dev/null 2>&1 && break; sleep 0.2; done

if [ "$(json "v.some(x => x.name === '$VOLUME')" volume list)" != "true" ]; then
  mosaic volume create "$VOLUME" --layout "$LAYOUT" --codec "$CODEC" >/dev/null
  echo "init: created volume $VOLUME ($CODEC $LAYOUT)"
fi

# Storage nodes register with their first heartbeat.
registered=0
for _ in $(seq 1 $((WAIT_S * 2))); do
  registered="$(json "v.length" node list)"
  [ "$registered" -ge "$NODES" ] && break
  sleep 0.5
done
[ "$registered" -ge "$NODES" ] || { echo "init: only $registered of $NODES storage nodes registered with exportd within ${WAIT_S}s" >&2; exit 1; }
added="$(json "v.length" node add --all --volume "$VOLUME")"
[ "$added" -gt 0 ] && echo "init: added $added node(s) to volume $VOLUME"

if [ "$(json "v.some(x => x.name === '$EXPORT_NAME')" export list)" != "true" ]; then
  mosaic export create "$EXPORT_NAME" --volume "$VOLUME" >/dev/null
  echo "init: created export $EXPORT_NAME"
fi
echo "init: cluster ready: volume $VOLUME, $registered node(s), export $EXPORT_NAME"
