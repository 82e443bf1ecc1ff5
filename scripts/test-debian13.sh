#!/usr/bin/env bash
# The whole test suite against Debian 13's LibTorch 2.6: makes (or updates) the Debian 13 root of
# scripts/debian13.sh, then builds masnn inside it into build-debian13/ and runs ctest there.
#   --sanitize   build with AddressSanitizer and UndefinedBehaviorSanitizer instead (scripts/test-sanitized.sh), into
#                build-debian13-sanitized/: what CI runs, so one build checks both LibTorch 2.6 and memory safety
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  ''|--sanitize) ;;
  *) echo "usage: scripts/test-debian13.sh [--sanitize]" >&2; exit 2 ;;
esac
scripts/debian13.sh setup
if [ "${1:-}" = --sanitize ]; then
  scripts/debian13.sh run bash -c 'MASNN_BUILD_DIR=build-debian13-sanitized scripts/test-sanitized.sh'
else
  scripts/debian13.sh run bash -c \
    'MASNN_BUILD_DIR=build-debian13 scripts/build.sh && cd build-debian13 && ctest --output-on-failure -j"$(nproc)"'
fi
