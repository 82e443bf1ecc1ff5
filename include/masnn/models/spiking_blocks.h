// The layers of the DVS networks (REFERENCE.md 3.1): conv or linear -> BN over T*B -> pool ->
// attention -> LIF. Input and output are time-major.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "masnn/attention/attentive_lif.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/models/event_driven_synapse.h"
#include "masnn/models/layer_replacement.h"
#include "masnn/neuron/lif.h"
#include "masnn/util/monitor.h"

namespace masnn {

/// Attention settings shared by the layers of one network.
struct LayerAttention {
  AttentionType type;
  AttentionPlacement placement = AttentionPlacement::ConvPost;
  int64_t t_ratio = 5;
  int64_t c_ratio = 8;
  int64_t kernel_size = 3;
  bool per_step = false;
};

/// The recurrent state of one block for step-at-a-time inference (forward_step). Rows are independent
/// samples or streams; each row can be put back at rest on its own.
struct BlockStepState {
  /// The neurons' membrane state after the last step, [B,...]; undefined = every row at rest.
  torch::Tensor membrane;
  /// For attention that pools over time: the block's last inputs to the attention (after conv, BN and pool),
  /// a ring of `capacity` steps stored twice ([2*capacity,B,...]) so that the last n steps are one slice.
  torch::Tensor history;
  /// The attention's statistics of the same steps (MultiDimAttentionImpl::causal_statistics), rings alike:
  /// [2*capacity,B] and [2*capacity,B,C]; undefined when the attention does not use them.
  torch::Tensor stat_mean, stat_max, stat_channel_sum, stat_channel_max;
  int64_t capacity = 0;  ///< steps the ring holds (T of the block)
  int64_t next = 0;      ///< ring slot of the next step
  /// Per row: steps since the row was last at rest; its causal window is the last min(seen, capacity) steps.
  std::vector<int64_t> seen;
  /// Puts row `row` (every row when -1) at rest: zero membrane, empty window.
  void reset(int64_t row = -1);
};

/// Settings of a SpikingConvBlock, its backends included (shown by pretty_print).
struct SpikingConvBlockOptions {
  SpikingConvBlockOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, pool) = 1;   ///< average pooling after BN
  TORCH_ARG(int64_t, steps) = 1;  ///< T, for attention that pools over time
  TORCH_ARG(LayerAttention, attention);
  TORCH_ARG(LIFOptions, lif) = LIFOptions::reference_dvs();
  /// The input is spikes (0/1): training then keeps it as bits for the weight gradient (lean_ops.h), and
  /// monitors are told so. DvsNet sets it for every block after the first (which reads event frames).
  TORCH_ARG(bool, spike_input) = false;
  /// In training mode, BN and the pooling after it as one op (functional::batch_norm_avg_pool2d in lean_ops.h:
  /// same values and gradients, less memory and time); false keeps bn then the pooling (the oracle).
  TORCH_ARG(bool, fused_norm) = true;
  /// The attention's last pass (x * a * w, ReLU) and the LIF as one op where both allow it
  /// (MultiDimAttention::can_defer_scale, functional::scaled_lif_supports): neither the attended input nor the
  /// membrane is stored; false keeps them apart (the oracle).
  TORCH_ARG(bool, fused_scale_lif) = true;
  /// In training, with both fusions: BN's output, which the LIF and the spatial attention keep for their backward,
  /// is let go after the forward and computed again in those backwards, a chunk of samples at a time, where that is
  /// cheap (the first layer: BN of the convolution of the event frames again; an event-driven layer: from the window
  /// sums its node keeps). In the Gesture network at T 16, B 8: 32 and 16 MiB less held through the step, and never
  /// whole again. false keeps it.
  TORCH_ARG(bool, recompute_norm_output) = true;
  /// With spike_input in training: the convolution dense (oneDNN, the input kept as bits), event-driven
  /// (functional::conv2d_event_driven: work and memory in proportion to the spikes), or by the batch's density
  /// against `synapse_crossover` (event_driven_synapse.h).
  TORCH_ARG(SynapseMode, synapses) = SynapseMode::Dense;
  TORCH_ARG(double, synapse_crossover) = kEventDrivenConvCrossover;
  /// With `synapses` auto: the share of the published surrogate support below which the input gradient is computed
  /// at the support only (event_driven_synapse.h); `sparse` uses it whenever it is not the whole input.
  TORCH_ARG(double, support_crossover) = kSparseInputGradCrossover;
};

/// [T,B,Cin,H,W] -> conv3x3 (stride 1, pad 1, bias) -> BN2d over T*B -> avg-pool -> attention -> LIF
/// -> spikes [T,B,Cout,H/pool,W/pool].
/// conv, bn and attention are replaceable (layer_replacement.h): conv and bn receive the input merged over time.
class SpikingConvBlockImpl : public torch::nn::Cloneable<SpikingConvBlockImpl>, public ReplaceableLayers {
 public:
  explicit SpikingConvBlockImpl(const SpikingConvBlockOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  bool replace_layer(const std::string& name, const std::shared_ptr<torch::nn::Module>& replacement) override;
  /// x is taken by value: a caller that moves its input in lets its memory go once the convolution has read it.
  torch::Tensor forward(torch::Tensor x);
  /// Step-at-a-time inference (eval mode): one step x_t [B,Cin,H,W] -> spikes [B,Cout,H/pool,W/pool], carrying
  /// `state`. T steps from rest reproduce forward exactly unless the attention pools over time (TA; CA/SA over
  /// T at conv-post); that attention is causal, MultiDimAttention::forward_causal over the row's window.
  torch::Tensor forward_step(const torch::Tensor& x_t, BlockStepState& state);
  /// What monitors are told the input is: spikes, or the network's input frames.
  SynapseEvent::Kind input_kind() const {
    return options.spike_input() ? SynapseEvent::Kind::Spikes : SynapseEvent::Kind::Frames;
  }

  SpikingConvBlockOptions options;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  MultiDimAttention attention{nullptr};  ///< absent without attention (or with CA/SA only at activate-pre)
  LIF lif{nullptr};                      ///< the neuron at conv-post
  AttentiveLIF attentive_lif{nullptr};   ///< the neuron with CA/SA inside at activate-pre
};
TORCH_MODULE(SpikingConvBlock);

/// Settings of a SpikingLinearBlock (attention: its TA only), its backends included.
struct SpikingLinearBlockOptions {
  SpikingLinearBlockOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(int64_t, steps) = 1;
  TORCH_ARG(LayerAttention, attention);
  TORCH_ARG(LIFOptions, lif) = LIFOptions::reference_dvs();
  /// The input is spikes (0/1), as SpikingConvBlockOptions::spike_input.
  TORCH_ARG(bool, spike_input) = false;
  /// With spike_input in training and dense synapses: the linear layer runs as a 1x1 convolution on oneDNN instead
  /// of a BLAS GEMM (functional::linear_binary_input in lean_ops.h); false keeps torch::linear's GEMM.
  TORCH_ARG(bool, linear_as_conv) = true;
  /// With spike_input in training: dense, event-driven (functional::linear_event_driven) or chosen per call by the
  /// batch's density, as SpikingConvBlockOptions::synapses.
  TORCH_ARG(SynapseMode, synapses) = SynapseMode::Dense;
  TORCH_ARG(double, synapse_crossover) = kEventDrivenLinearCrossover;
  TORCH_ARG(double, support_crossover) = kSparseInputGradCrossover;
};

/// [T,B,Fin] -> linear (bias) -> BN1d over T*B -> TA (when the type has T) -> LIF -> spikes [T,B,Fout].
/// linear, bn and attention are replaceable (layer_replacement.h).
class SpikingLinearBlockImpl : public torch::nn::Cloneable<SpikingLinearBlockImpl>, public ReplaceableLayers {
 public:
  explicit SpikingLinearBlockImpl(const SpikingLinearBlockOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  bool replace_layer(const std::string& name, const std::shared_ptr<torch::nn::Module>& replacement) override;
  torch::Tensor forward(const torch::Tensor& x);
  /// Step-at-a-time inference (eval mode): x_t [B,Fin] -> spikes [B,Fout], carrying `state` (TA causal, as in
  /// SpikingConvBlockImpl::forward_step).
  torch::Tensor forward_step(const torch::Tensor& x_t, BlockStepState& state);
  SynapseEvent::Kind input_kind() const {
    return options.spike_input() ? SynapseEvent::Kind::Spikes : SynapseEvent::Kind::Frames;
  }

  SpikingLinearBlockOptions options;
  torch::nn::Linear linear{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  MultiDimAttention attention{nullptr};
  LIF lif{nullptr};
};
TORCH_MODULE(SpikingLinearBlock);

/// How the spike-input synapses of `net` train: sets every SpikingConvBlock's and SpikingLinearBlock's `synapses`,
/// and, unless Dense, has the LIFs whose spikes such a block reads publish their support
/// (LIFOptions::publish_support), so that it computes its input gradient only inside their window (each block reads
/// the one registered before it).
void set_synapse_mode(torch::nn::Module& net, SynapseMode mode);

}  // namespace masnn
