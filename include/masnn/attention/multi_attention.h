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

/// The weights of one forward, detached; a member is undefined when that attention is absent.
struct AttentionWeights {
  torch::Tensor temporal;  ///< [T,B,1,...]
  torch::Tensor channel;   ///< [1,B,C,1,1], or [T,B,C,1,1] per step
  torch::Tensor spatial;   ///< [1,B,1,H,W], or [T,B,1,H,W] per step
};

namespace functional {
/// What the composite multiplies x by: out = x * a * w (then ReLU), with x as the pooling nodes pass it on (the
/// input, for autograd), a = w_T * w_C [T,B,C] (ones without TA and CA) and w = w_S [B,H,W] (undefined without SA).
struct AttentionScale {
  torch::Tensor x, a, w;
};
}  // namespace functional

/// What the causal variant pools from one step (MultiDimAttentionImpl::causal_statistics), computed once when the
/// step arrives; step-at-a-time inference keeps them for the steps of the window.
struct CausalStepStatistics {
  torch::Tensor mean, max;                 ///< for TA: [B], over everything but B (undefined without TA)
  torch::Tensor channel_sum, channel_max;  ///< for CA over T: [B,C], over H and W (undefined otherwise)
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
  /// Compute CA/SA composites over all T with the fused kernels when the input is a CPU
  /// float/double [T,B,C,H,W]; false keeps the composed LibTorch ops (the oracle the tests compare with).
  TORCH_ARG(bool, fused) = true;
};

/// x [T,B,C,H,W] (or [T,B,F] with TA only) -> attended x of the same shape. Attached monitors
/// (masnn/util/monitor.h) see each forward's input, output and weights as an attention event.
class MultiDimAttentionImpl : public torch::nn::Cloneable<MultiDimAttentionImpl> {
 public:
  explicit MultiDimAttentionImpl(const MultiDimAttentionOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);
  /// forward, also giving the weights it applied (detached).
  torch::Tensor forward_with_weights(const torch::Tensor& x, AttentionWeights& weights);
  /// True when forward takes the fused path for x: options.fused, not per_step, some attention,
  /// a CPU float/double 5-D input.
  bool runs_fused(const torch::Tensor& x) const;
  /// True when forward_scale applies to x: the fused path, and no attached monitor wants the attended values
  /// (Monitor::wants_attention_values).
  bool can_defer_scale(const torch::Tensor& x) const;
  /// forward without its last pass: what x is to be multiplied by (then ReLU when options.relu), for a caller that
  /// fuses that pass into the neuron after it (functional::scaled_lif). Records the weights like forward. Needs
  /// can_defer_scale. Attached monitors see its input and weights.
  functional::AttentionScale forward_scale(const torch::Tensor& x);
  /// The causal variant for step-at-a-time inference. `window` [n,B,...] holds the last n <= T inputs (oldest
  /// first, the current step last); returns the attended current step [B,...]: forward applied to the window
  /// alone, TA with the steps not seen yet (n..T-1) as zero descriptors (TemporalAttention::forward_prefix),
  /// CA and SA pooled over the n steps of the window, last row. With n == T it is the last row of forward.
  torch::Tensor forward_causal(const torch::Tensor& window);
  /// True when the output of a step depends on other steps (TA; CA or SA pooled over time), i.e. when
  /// step-at-a-time inference needs the window of past inputs.
  bool pools_over_time() const;
  /// The statistics of one step x_t [B,...] that forward_causal_cached pools.
  CausalStepStatistics causal_statistics(const torch::Tensor& x_t);
  /// forward_causal from the statistics of the window's steps stacked over time (mean, max [n,B]; channel_sum,
  /// channel_max [n,B,C]; undefined where causal_statistics leaves them so). `window` [n,B,...] is read only for SA
  /// over T (its maps depend on the current CA weights) and for the current step, so the work of a step does not
  /// grow with n except for SA. Equal to forward_causal up to the order of floating-point sums.
  torch::Tensor forward_causal_cached(const torch::Tensor& window, const torch::Tensor& mean, const torch::Tensor& max,
                                      const torch::Tensor& channel_sum, const torch::Tensor& channel_max);

  MultiDimAttentionOptions options;
  TemporalAttention ta{nullptr};
  ChannelAttention ca{nullptr};
  SpatialAttention sa{nullptr};
};
TORCH_MODULE(MultiDimAttention);

}  // namespace masnn
