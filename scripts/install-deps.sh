#!/usr/bin/env bash
# Installs the Debian packages masnn builds with (scripts/packages.txt), only those that are missing. Debian 12
# (bookworm); scripts/debian13.sh makes a Debian 13 root with the same list.
set -euo pipefail
mapfile -t packages < <(sed -e 's/#.*//' "$(dirname "$0")/packages.txt" | tr -s ' \t' '\n\n' | grep -v '^$')
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
