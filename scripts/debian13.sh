#!/usr/bin/env bash
# A Debian 13 (trixie) root for building and testing masnn against LibTorch 2.6, made from the Debian mirror that
# apt already uses. Idempotent: the first run makes the root (a few minutes), later runs only add missing packages.
#
#   scripts/debian13.sh setup [--cuda]   make or update the root (--cuda adds nvcc, Debian 13's CUDA 12.4)
#   scripts/debian13.sh run CMD...       run CMD inside the root, in the repository (bind-mounted at /masnn)
#
# The root lives outside the repository: $MASNN_DEBIAN13_ROOT, default /var/cache/masnn/debian13. Needs root (or
# sudo) and mmdebstrap, which it installs with apt-get where missing.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
root="${MASNN_DEBIAN13_ROOT:-/var/cache/masnn/debian13}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

# The packages of scripts/packages.txt (the same names in Debian 12 and 13), less the browser of one optional test
# and clang (the fuzz targets run on the host).
packages() {
  sed -e 's/#.*//' "$repo/scripts/packages.txt" | tr -s ' \t' '\n\n' | grep -v -e '^$' -e '^chromium$' -e '^clang$'
  if [ "${1:-}" = --cuda ]; then echo nvidia-cuda-toolkit; fi
}

# The first Debian mirror of the host's apt sources (deb822 or one-line format), else Debian's own.
mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' | grep -v security | head -n1)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1)
  echo "${uri:-http://deb.debian.org/debian}"
}

mount_binds() {
  local d
  for d in proc sys dev dev/pts; do
    mountpoint -q "$root/$d" || "${sudo_cmd[@]}" mount --bind "/$d" "$root/$d"
  done
  "${sudo_cmd[@]}" mkdir -p "$root/masnn"
  mountpoint -q "$root/masnn" || "${sudo_cmd[@]}" mount --bind "$repo" "$root/masnn"
}

unmount_binds() {
  local d
  for d in masnn dev/pts dev sys proc; do
    if mountpoint -q "$root/$d"; then "${sudo_cmd[@]}" umount "$root/$d" || true; fi
  done
}

setup() {
  local wanted missing
  wanted=$(packages "${1:-}" | sort -u | tr '\n' ' ')
  if [ ! -x "$root/usr/bin/apt-get" ]; then
    command -v mmdebstrap >/dev/null || {
      "${sudo_cmd[@]}" apt-get update -qq
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends mmdebstrap
    }
    echo "making a Debian 13 root at $root from $(mirror) (a few minutes)"
    "${sudo_cmd[@]}" mkdir -p "$(dirname "$root")"
    # non-free and contrib: nvidia-cuda-toolkit (only installed with --cuda).
    "${sudo_cmd[@]}" mmdebstrap --variant=apt --components="main contrib non-free" --include="${wanted// /,}" \
      --aptopt='APT::Install-Recommends "false"' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      trixie "$root.partial" "$(mirror)"
    "${sudo_cmd[@]}" mv "$root.partial" "$root"
    return
  fi
  missing=()
  for p in $wanted; do
    "${sudo_cmd[@]}" chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing in the Debian 13 root: ${missing[*]}"
    mount_binds
    trap unmount_binds EXIT
    "${sudo_cmd[@]}" chroot "$root" apt-get update -qq
    "${sudo_cmd[@]}" chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}"
  fi
}

run() {
  [ -x "$root/usr/bin/apt-get" ] || { echo "no Debian 13 root at $root: run '$0 setup' first" >&2; exit 1; }
  mount_binds
  trap unmount_binds EXIT
  "${sudo_cmd[@]}" chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    ${CI:+CI=$CI} bash -c 'cd /masnn && "$@"' bash "$@"
}

case "${1:-}" in
  setup) shift; setup "$@" ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 setup [--cuda] | run CMD..." >&2; exit 2 ;;
esac
