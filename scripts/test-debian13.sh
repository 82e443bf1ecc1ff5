#!/usr/bin/env bash
# The whole test suite against Debian 13's LibTorch 2.6: makes (or updates) the Debian 13 root of
# scripts/debian13.sh, then builds masnn inside it into build-debian13/ and runs ctest there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/debian13.sh setup
scripts/debian13.sh run bash -c \
  'MASNN_BUILD_DIR=build-debian13 scripts/build.sh && cd build-debian13 && ctest --output-on-failure -j"$(nproc)"'
