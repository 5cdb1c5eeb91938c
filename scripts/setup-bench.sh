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

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-bench: all ${#PACKAGES[@]} benchmark packages are installed"
  exit 0
fi

echo "setup-bench: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-bench: not root; run this once, then retry:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup-bench: apt-get update"
apt-get update -qq
echo "setup-bench: installing ${missing[*]}"
# Debian's package starts no daemon here (no systemd); elsewhere it may enable
# glusterd.service, which would hold 24007: the benchmark then says so.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-bench: done"
