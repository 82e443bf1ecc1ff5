// Time-major [T,B,...] -> [T*B,...] and back: convolutions and BatchNorm see the T*B samples of all steps at once,
// as the reference's layers do.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace masnn {

/// [T,B,...] -> [T*B,...] (a view when x is contiguous).
inline torch::Tensor merge_time(const torch::Tensor& x) {
  return x.flatten(0, 1);
}

/// [T*B,...] -> [T,B,...] for T = steps.
inline torch::Tensor split_time(const torch::Tensor& x, int64_t steps) {
  std::vector<int64_t> shape{steps, x.size(0) / steps};
  shape.insert(shape.end(), x.sizes().begin() + 1, x.sizes().end());
  return x.view(shape);
}

}  // namespace masnn
