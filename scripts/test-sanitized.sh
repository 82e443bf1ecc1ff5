#!/usr/bin/env bash
# The whole test suite built with AddressSanitizer and UndefinedBehaviorSanitizer (g++), into build-sanitized/ (or
# $MASNN_BUILD_DIR): masnn's code is instrumented, LibTorch's is not (its allocations are still tracked). Any report
# fails the test that made it. Leak checking is off: LibTorch keeps process-lifetime allocations that LSan reports.
# -O1 without debug info: the build costs about what a Release build does (-g doubled it); reports name functions.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${MASNN_BUILD_DIR:-build-sanitized}"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
MASNN_BUILD_DIR="$build" scripts/build.sh -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# package.consumer and python.pytest load the instrumented library into programs built without the sanitizers (the
# example consumer, python3): ASan's runtime must then be loaded first, and libstdc++ with it (else ASan cannot find
# the real __cxa_throw and stops at the first exception).
LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)${LD_PRELOAD:+ $LD_PRELOAD}"
export LD_PRELOAD
cd "$build" && ctest --output-on-failure -j"$(nproc)" "$@"
