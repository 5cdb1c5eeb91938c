#!/usr/bin/env bash
# Installs the Debian packages Mosaic needs to run and to test, only those
# missing. Idempotent: a second run installs nothing and says so.
set -euo pipefail

PACKAGES=(
  libfuse2 fuse           # fuse-native loads libfuse.so.2 and mounts with fusermount
  libnbd-bin qemu-utils   # real NBD clients for the block-device tests (nbdinfo, nbdcopy, nbdfuse, qemu-img, qemu-io)
  nbdkit                  # the reference NBD server the NBD benchmark compares with
  nbd-client              # kernel NBD attach (mountd nbd)
  fio bindfs              # benchmarks: fio workloads, the C FUSE passthrough baseline
  e2fsprogs util-linux    # mkfs.ext4, losetup, fallocate for block and ENOSPC tests
  attr                    # getfattr/setfattr for xattr tests
  docker.io docker-compose debootstrap  # the Docker cluster and its locally-built base image
  git rsync               # ordinary tools the filesystem tests drive through the mount
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: all ${#PACKAGES[@]} required Debian packages are installed"
  exit 0
fi

echo "setup-system: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: not root; run this once, then retry:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup-system: apt-get update"
apt-get update -qq
echo "setup-system: installing ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-system: done"
