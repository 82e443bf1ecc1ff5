// LibTorch's version as one number, for the compatibility headers beside this one (and only for them: code
// elsewhere calls what those headers define, never tests a version itself).
#pragma once

#include <torch/version.h>

/// MAJOR * 100 + MINOR of the LibTorch masnn is compiled against: 113 for 1.13, 206 for 2.6.
#define MASNN_TORCH_VERSION (TORCH_VERSION_MAJOR * 100 + TORCH_VERSION_MINOR)
