#!/usr/bin/env bash
# The test command: install what is missing, build, run the whole test suite. Where nvcc is installed, the CUDA
# kernels are compiled too (MASNN_CUDA_KERNELS_CHECK; running them needs a CUDA build and a GPU). Then the same for
# the build without the optional parts (OpenCV, Gloo: docs/building.md#optional-parts), into <build>-minimal; with
# ccache that build takes its unchanged objects from the first one.
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
build="${MASNN_BUILD_DIR:-build}"
(cd "$build" && ctest --output-on-failure -j"$(nproc)")
MASNN_BUILD_DIR="$build-minimal" scripts/build.sh -DMASNN_OPENCV=OFF -DMASNN_GLOO=OFF -DMASNN_PYTHON=OFF
cd "$build-minimal" && ctest --output-on-failure -j"$(nproc)"
