#!/usr/bin/env bash
# Installs the Debian packages masnn builds with, only those that are missing. Debian 12 (bookworm).
set -euo pipefail
packages=(
  g++ cmake make            # compiler and build
  libtorch-dev              # LibTorch 1.13 (CPU): tensors, autograd, nn modules
  libgloo-dev               # Gloo headers, for c10d's ProcessGroupGloo (distributed training)
  libtomlplusplus-dev       # TOML configs
  libcli11-dev              # the command line
  libfmt-dev                # formatted output
  nlohmann-json3-dev        # JSON reports and metadata
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev  # image decoding and augmentation
  zlib1g-dev                # gzip-compressed IDX files
  dataset-fashion-mnist     # Fashion-MNIST (IDX files), the image pipeline's shipped dataset
  libgtest-dev              # unit tests
  chromium                  # the test that loads the analysis report in a headless browser
)
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
