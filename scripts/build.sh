#!/usr/bin/env bash
# Configures and builds masnn (Release) into build/ (or $MASNN_BUILD_DIR). Extra arguments go to the CMake
# configure step, e.g. -DCMAKE_PREFIX_PATH=... for the CUDA LibTorch of an installed PyTorch.
# With ccache installed, compilations are cached outside the repository (CCACHE_BASEDIR makes the cache shared by
# every clone), so a rebuild of unchanged files takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${MASNN_BUILD_DIR:-build}"
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
