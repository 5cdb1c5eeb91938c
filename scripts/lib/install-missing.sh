# Sourced by the setup scripts: install_missing TAG WHAT PKG... installs the
# Debian packages among PKG that are missing, and only those; when not root
# it prints the one command to run and fails. TAG prefixes every line, WHAT
# names the set in the "all installed" line.
install_missing() {
  local tag="$1" what="$2"
  shift 2
  local packages=("$@") missing=() pkg
  for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done

  if [ ${#missing[@]} -eq 0 ]; then
    echo "$tag: all ${#packages[@]} $what are installed"
    return 0
  fi

  echo "$tag: missing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "$tag: not root; run this once, then retry:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    return 1
  fi

  export DEBIAN_FRONTEND=noninteractive
  echo "$tag: apt-get update"
  apt-get update -qq
  echo "$tag: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "$tag: done"
}
