#!/usr/bin/env bash
# Installs the Debian packages the benchmarks need beyond setup-system.sh,
# only those missing. Idempotent: a second run installs nothing and says so.
#   glusterfs-server  the GlusterFS disperse 4+2 volume `npm run bench -- fs`
#                     compares Mosaic with (glusterd, bricks, the FUSE client)
#   fio bindfs        the fs benchmark's workloads and its C FUSE baseline
# The benchmark starts its own glusterd (its own state directory, bound to
# 127.0.0.2); nothing here enables or starts a system service.
set -euo pipefail

PACKAGES=(glusterfs-server glusterfs-client fio bindfs fuse)

. "$(dirname "${BASH_SOURCE[0]}")/lib/install-missing.sh"
# Debian's glusterfs-server starts no daemon here (no systemd); elsewhere it
# may enable glusterd.service, which would hold 24007: the benchmark then says so.
install_missing setup-bench "benchmark packages" "${PACKAGES[@]}"
