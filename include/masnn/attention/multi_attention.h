// Multi-dimensional attention (MA) at Conv-POST: T, then C, then S, each scaling the previous output,
// then ReLU (REFERENCE.md 2). "MA-SNN" is TCSA.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "masnn/attention/attention_type.h"
#include "masnn/attention/channel_attention.h"
#include "masnn/attention/spatial_attention.h"
#include "masnn/attention/temporal_attention.h"

namespace masnn {

/// The weights of the last forward, detached; a member is undefined when that attention is absent.
struct AttentionWeights {
  torch::Tensor temporal;  ///< [T,B,1,...]
  torch::Tensor channel;   ///< [1,B,C,1,1], or [T,B,C,1,1] per step
  torch::Tensor spatial;   ///< [1,B,1,H,W], or [T,B,1,H,W] per step
};

struct MultiDimAttentionOptions {
  MultiDimAttentionOptions(AttentionType type, int64_t steps, int64_t channels)
      : type_(type), steps_(steps), channels_(channels) {}
  TORCH_ARG(AttentionType, type);
  /// T (for TA).
  TORCH_ARG(int64_t, steps);
  /// C (for CA); unused for the fc form, which allows TA only.
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, t_ratio) = 5;
  TORCH_ARG(int64_t, c_ratio) = 8;
  TORCH_ARG(int64_t, kernel_size) = 3;
  /// CA and SA computed for each time step separately (the paper's variant) instead of over all T.
  TORCH_ARG(bool, per_step) = false;
  /// ReLU after the composite, as the reference code does.
  TORCH_ARG(bool, relu) = true;
};

/// x [T,B,C,H,W] (or [T,B,F] with TA only) -> attended x of the same shape.
class MultiDimAttentionImpl : public torch::nn::Cloneable<MultiDimAttentionImpl> {
 public:
  explicit MultiDimAttentionImpl(const MultiDimAttentionOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  MultiDimAttentionOptions options;
  TemporalAttention ta{nullptr};
  ChannelAttention ca{nullptr};
  SpatialAttention sa{nullptr};
  /// When true, forward keeps its weights in last_weights (for analysis).
  bool record_weights = false;
  AttentionWeights last_weights;
};
TORCH_MODULE(MultiDimAttention);

}  // namespace masnn
