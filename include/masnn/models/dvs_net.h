// The convolutional MA-SNN of the DVS experiments (REFERENCE.md 3.1 Gesture, 3.2 Gait).
// Input: event frames [T,B,C_in,H,W] (time-major); output: firing rate of the class neurons [B,classes]
// (the mean of their spikes over T).
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "masnn/models/spiking_blocks.h"

namespace masnn {

struct DvsNetOptions {
  TORCH_ARG(int64_t, in_channels) = 2;
  /// Side of the square input frames (after down-sampling).
  TORCH_ARG(int64_t, input_size) = 32;
  /// Output channels of the conv layers.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{64, 128, 128};
  /// Average-pool size after each conv layer (1 = none).
  TORCH_ARG(std::vector<int64_t>, pools) = std::vector<int64_t>{1, 2, 2};
  /// Sizes of the hidden fully connected layers.
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{256};
  TORCH_ARG(int64_t, num_classes) = 11;
  /// T, needed by temporal attention.
  TORCH_ARG(int64_t, steps) = 60;
  TORCH_ARG(LayerAttention, attention) = {};
  TORCH_ARG(LIFOptions, lif) = LIFOptions::reference_dvs();

 public:
  /// DVS128 Gesture, 3 conv layers at 32x32 (REFERENCE.md 3.1): c_ratio 8, t_ratio 5.
  static DvsNetOptions gesture(int64_t steps, AttentionType attention);
  /// DVS128 Gait, 5 conv layers at 128x128 (REFERENCE.md 3.2): c_ratio 8, t_ratio 2.
  static DvsNetOptions gait(int64_t steps, AttentionType attention);
};

/// The state of every block of a DvsNet for step-at-a-time inference (DvsNetImpl::forward_step).
struct DvsNetStepState {
  std::vector<BlockStepState> convs, fcs;
  /// Puts row `row` (every row when -1) at rest.
  void reset(int64_t row = -1);
};

class DvsNetImpl : public torch::nn::Cloneable<DvsNetImpl> {
 public:
  explicit DvsNetImpl(const DvsNetOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// x [T,B,C_in,H,W] -> [B,num_classes], the mean over T of the output layer's spikes.
  torch::Tensor forward(const torch::Tensor& x);
  /// Step-at-a-time inference (eval mode): one time step x_t [B,C_in,H,W] -> the output layer's spikes
  /// [B,num_classes] at this step, carrying the membrane of every LIF (and the causal attention windows) in
  /// `state`. The mean of T steps from rest equals forward on those T steps when no attention pools over time
  /// (none, per-step CA/SA, CA/SA at activate-pre); TA and CA/SA over T are causal (see
  /// SpikingConvBlockImpl::forward_step).
  torch::Tensor forward_step(const torch::Tensor& x_t, DvsNetStepState& state);

  DvsNetOptions options;
  torch::nn::ModuleList convs{nullptr};
  torch::nn::ModuleList fcs{nullptr};
};
TORCH_MODULE(DvsNet);

}  // namespace masnn
