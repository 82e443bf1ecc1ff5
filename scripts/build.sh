#!/usr/bin/env bash
# Configures and builds masnn (Release) into build/. Extra arguments go to the CMake configure step,
# e.g. -DCMAKE_PREFIX_PATH=... for the CUDA LibTorch of an installed PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
