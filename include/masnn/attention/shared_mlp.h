// The two-layer bottleneck MLP shared by temporal and channel attention (REFERENCE.md 2):
// n -> n/r -> n, no bias, ReLU between; weight = sigmoid(MLP(avg) + MLP(max)).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace masnn {

class SharedMLPImpl : public torch::nn::Cloneable<SharedMLPImpl> {
 public:
  /// `what` names the owner in error messages (e.g. "temporal attention").
  SharedMLPImpl(int64_t features, int64_t ratio, const std::string& what);
  void reset() override;

  /// avg, max: descriptors [..., features] -> sigmoid(MLP(avg) + MLP(max)), same shape.
  torch::Tensor forward(const torch::Tensor& avg, const torch::Tensor& max);

  int64_t features, hidden;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SharedMLP);

}  // namespace masnn
