#!/usr/bin/env bash
# The test command: install what is missing, build, run the whole test suite. Where nvcc is installed, the CUDA
# kernels are compiled too (MASNN_CUDA_KERNELS_CHECK; running them needs a CUDA build and a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
nvcc="$(command -v nvcc || true)"
[ -n "$nvcc" ] || [ ! -x /usr/local/cuda/bin/nvcc ] || nvcc=/usr/local/cuda/bin/nvcc
if [ -n "$nvcc" ]; then
  scripts/build.sh -DMASNN_CUDA_KERNELS_CHECK=ON -DCMAKE_CUDA_COMPILER="$nvcc"
else
  echo "nvcc not found: the CUDA kernels are not compiled"
  scripts/build.sh
fi
cd "${MASNN_BUILD_DIR:-build}" && ctest --output-on-failure -j"$(nproc)"
