// Channel attention (CA): one weight per channel and sample.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "masnn/attention/shared_mlp.h"

namespace masnn {

struct ChannelAttentionOptions {
  explicit ChannelAttentionOptions(int64_t channels) : channels_(channels) {}
  /// C (the MLP is C -> C/ratio -> C).
  TORCH_ARG(int64_t, channels);
  /// Reduction ratio r_c (REFERENCE: 8).
  TORCH_ARG(int64_t, ratio) = 8;
  /// false: pooled over T,H,W, shared over time (the reference); true: pooled over H,W for each t (the paper).
  TORCH_ARG(bool, per_step) = false;
};

class ChannelAttentionImpl : public torch::nn::Cloneable<ChannelAttentionImpl> {
 public:
  explicit ChannelAttentionImpl(const ChannelAttentionOptions& options);
  void reset() override;
  /// x [T,B,C,H,W] -> weights [1,B,C,1,1] (or [T,B,C,1,1] per step) in (0,1).
  torch::Tensor forward(const torch::Tensor& x);
  /// One time step u [B,C,H,W] -> weights [B,C,1,1], pooled over H,W.
  torch::Tensor forward_step(const torch::Tensor& u);

  ChannelAttentionOptions options;
  SharedMLP mlp{nullptr};
};
TORCH_MODULE(ChannelAttention);

}  // namespace masnn
