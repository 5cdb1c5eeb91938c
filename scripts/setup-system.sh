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

. "$(dirname "${BASH_SOURCE[0]}")/lib/install-missing.sh"
install_missing setup-system "required Debian packages" "${PACKAGES[@]}"
