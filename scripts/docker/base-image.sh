#!/usr/bin/env bash
# Builds the local base image for Mosaic's images where no registry answers.
#
#   scripts/docker/base-image.sh [--name mosaic-base:bookworm] [--force]
#
# Our Dockerfiles build FROM the public node:20-bookworm-slim by default. On
# machines that reach no image registry (ours), this script makes an
# equivalent image locally: a Debian bookworm root made by
# `debootstrap --variant=minbase` (from the host's Debian mirror), plus
# libfuse2 and fuse (mountd's FUSE library and fusermount), plus the host's
# own `node` binary (Node 20, the one that built node_modules, so native
# addons match), imported with `docker import`. Then:
#
#   docker build --build-arg BASE_IMAGE=mosaic-base:bookworm ...
#
# Idempotent: if the image exists it is kept (and said so); --force rebuilds.
# Needs root (debootstrap), debootstrap, and a Docker engine that answers.
#
# Environment: MOSAIC_DEBIAN_MIRROR (default: the host's apt mirror, else
# http://deb.debian.org/debian).
set -euo pipefail

NAME=mosaic-base:bookworm
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME="$2"; shift ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "base-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

docker info >/dev/null 2>&1 || { echo "base-image.sh: no Docker engine answers; run: sudo scripts/docker/dockerd.sh" >&2; exit 1; }
if [ "$FORCE" -eq 0 ] && docker image inspect "$NAME" >/dev/null 2>&1; then
  echo "base-image.sh: $NAME exists (use --force to rebuild)"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || { echo "base-image.sh: debootstrap is missing; run: sudo scripts/setup-system.sh" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "base-image.sh: debootstrap needs root: sudo $0" >&2; exit 1; }

NODE_BIN="$(command -v node)" || { echo "base-image.sh: node is missing on the host" >&2; exit 1; }
NODE_MAJOR="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" = 20 ] || echo "base-image.sh: warning: the host's node is $("$NODE_BIN" --version), the images expect Node 20" >&2

# The mirror the host's apt already reaches (deb822 or one-line sources), so
# machines behind a mirror need no configuration.
mirror="${MOSAIC_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit} /^deb / && $0 ~ / bookworm / && $2 !~ /security/ {print $2; exit}' || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

root="$(mktemp -d /tmp/mosaic-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "base-image.sh: debootstrap --variant=minbase bookworm from $mirror (about a minute)"
start=$SECONDS
# libfuse2 + fuse: mountd's image needs them, and this base has no apt
# lists, so they come in now rather than from the Dockerfile's apt-get.
debootstrap --variant=minbase --include=libfuse2,fuse bookworm "$root" "$mirror" > "$root.log" 2>&1 || {
  echo "base-image.sh: debootstrap failed; the end of $root.log:" >&2; tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"

install -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
# Keep the image small: apt caches, docs and manuals are of no use in it.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  --message "Debian bookworm minbase + libfuse2/fuse + host node $("$NODE_BIN" --version) (scripts/docker/base-image.sh)" \
  - "$NAME" >/dev/null
echo "base-image.sh: built $NAME in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$NAME" | awk '{printf "%d MB", $1/1e6}'))"
