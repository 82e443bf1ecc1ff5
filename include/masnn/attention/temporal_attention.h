// Temporal attention (TA): one weight per time step and sample, from the features of that step.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "masnn/attention/shared_mlp.h"

namespace masnn {

struct TemporalAttentionOptions {
  explicit TemporalAttentionOptions(int64_t steps) : steps_(steps) {}
  /// T, the number of time steps the layer sees (the MLP is T -> T/ratio -> T).
  TORCH_ARG(int64_t, steps);
  /// Reduction ratio r_t (REFERENCE: 5 for DVS128 Gesture, 2 for Gait).
  TORCH_ARG(int64_t, ratio) = 5;
};

/// x [T,B,...] (conv form [T,B,C,H,W] or fc form [T,B,F]) -> weights [T,B,1,...] in (0,1), one per (t,b),
/// from the average and the maximum of x over everything but T and B.
class TemporalAttentionImpl : public torch::nn::Cloneable<TemporalAttentionImpl> {
 public:
  explicit TemporalAttentionImpl(const TemporalAttentionOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  /// Causal form for step-at-a-time inference: x [n,B,...] holds the first n <= T steps of a window (oldest
  /// first) -> weights [n,B,1,...] = forward on x padded with n..T-1 zero steps (descriptors 0 for the steps
  /// not seen yet), first n rows. With n == T this is forward.
  torch::Tensor forward_prefix(const torch::Tensor& x);

  TemporalAttentionOptions options;
  SharedMLP mlp{nullptr};
};
TORCH_MODULE(TemporalAttention);

}  // namespace masnn
