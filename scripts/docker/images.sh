#!/usr/bin/env bash
# Builds the Mosaic images mosaic-exportd, mosaic-storaged and mosaic-mountd
# from images/Dockerfile (run `make build` first: they copy dist/ and
# node_modules/; `make images` does both).
#
#   scripts/docker/images.sh [--tag TAG]
#
# The base image: MOSAIC_BASE_IMAGE if set; else node:20-bookworm-slim if
# present or pullable; else (no registry reachable, as on our machines) the
# local mosaic-base:bookworm, built first by scripts/docker/base-image.sh.
#
# Environment: MOSAIC_BASE_IMAGE, MOSAIC_LOCAL_BASE (the local base's name,
# default mosaic-base:bookworm), MOSAIC_IMAGE_TAG (default latest; --tag
# wins), MOSAIC_BUILD_LOG (default .mosaic/docker/build.log).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAG="${MOSAIC_IMAGE_TAG:-latest}"
PUBLIC_BASE=node:20-bookworm-slim
LOCAL_BASE="${MOSAIC_LOCAL_BASE:-mosaic-base:bookworm}"
PULL_WAIT_S=120

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "images.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

"$ROOT/scripts/docker/dockerd.sh" --check >/dev/null || { "$ROOT/scripts/docker/dockerd.sh" --check; exit 1; }
for f in dist/exportd/main.js dist/storaged/main.js dist/mountd/main.js dist/exportd/cli/main.js node_modules/.package-lock.json; do
  [ -e "$ROOT/$f" ] || { echo "images.sh: $f is missing; run make build first (make images does)" >&2; exit 1; }
done

base="${MOSAIC_BASE_IMAGE:-}"
if [ -z "$base" ]; then
  if docker image inspect "$PUBLIC_BASE" >/dev/null 2>&1; then
    base="$PUBLIC_BASE"
  elif timeout "$PULL_WAIT_S" docker pull -q "$PUBLIC_BASE" >/dev/null 2>&1; then
    base="$PUBLIC_BASE"
  else
    echo "images.sh: $PUBLIC_BASE cannot be pulled (no registry reachable?); using the local base $LOCAL_BASE"
    "$ROOT/scripts/docker/base-image.sh" --name "$LOCAL_BASE"
    base="$LOCAL_BASE"
  fi
fi

# The images hold the host's native addons, built for this Node major.
if [ "$base" = "$PUBLIC_BASE" ] && [ "$(node -p 'process.versions.node.split(".")[0]')" != 20 ]; then
  echo "images.sh: warning: node_modules was installed by Node $(node --version), the image runs Node 20; native addons may not load" >&2
fi

LOG="${MOSAIC_BUILD_LOG:-$ROOT/.mosaic/docker/build.log}"
mkdir -p "$(dirname "$LOG")"
: > "$LOG"
start=$SECONDS
for target in exportd storaged mountd; do
  image="mosaic-$target:$TAG"
  echo "images.sh: building $image (FROM $base)"
  # The classic builder: it works with every engine and CLI (BuildKit needs
  # the buildx plugin with recent CLIs), and these stages gain nothing from
  # BuildKit. --network host: our engines have no bridge network.
  if ! DOCKER_BUILDKIT=0 docker build --network host -f "$ROOT/images/Dockerfile" \
      --build-arg "BASE_IMAGE=$base" --target "$target" -t "$image" "$ROOT" >> "$LOG" 2>&1; then
    echo "images.sh: building $image failed; the end of $LOG:" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
done
echo "images.sh: built mosaic-{exportd,storaged,mountd}:$TAG in $((SECONDS - start))s"
docker image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^  mosaic-(exportd|storaged|mountd):$TAG " || true
