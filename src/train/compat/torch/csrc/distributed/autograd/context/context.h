// Stand-in for a LibTorch header that Debian's libtorch-dev leaves out. c10d's reducer.hpp (the gradient
// bucketing of distributed data-parallel training, used by src/train/distributed.cpp) includes it for two type
// names only: DistAutogradContext::GradCallback (a static_assert compares it with its own callback type) and
// ContextPtr (held, never dereferenced, by a member the RPC framework uses). This file declares exactly those, so
// the Reducer's layout is the library's. CMakeLists.txt adds this folder to the include path only when the real
// header is missing; LibTorch builds that ship it (PyTorch's own) use theirs.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};

using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
