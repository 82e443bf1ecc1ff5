// Spatial attention (SA): one weight per pixel and sample, from a conv over the mean and max maps.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace masnn {

struct SpatialAttentionOptions {
  /// Side of the 2 -> 1 conv (no bias, 'same' padding): 3 in the reference code, 7 in the paper's text.
  TORCH_ARG(int64_t, kernel_size) = 3;
  /// false: maps over T and C (the reference); true: over C for each t (the paper).
  TORCH_ARG(bool, per_step) = false;
};

class SpatialAttentionImpl : public torch::nn::Cloneable<SpatialAttentionImpl> {
 public:
  explicit SpatialAttentionImpl(const SpatialAttentionOptions& options = {});
  void reset() override;
  /// x [T,B,C,H,W] -> weights [1,B,1,H,W] (or [T,B,1,H,W] per step) in (0,1).
  torch::Tensor forward(const torch::Tensor& x);
  /// One time step u [B,C,H,W] -> weights [B,1,H,W], maps over C.
  torch::Tensor forward_step(const torch::Tensor& u);

  /// The weights from the mean and max maps over the pooled dimensions, each [N,H,W] -> [N,1,H,W].
  torch::Tensor weights_from_maps(const torch::Tensor& mean, const torch::Tensor& max);

  SpatialAttentionOptions options;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(SpatialAttention);

}  // namespace masnn
