// The convolutional MA-SNN of the DVS experiments (REFERENCE.md 3.1 Gesture, 3.2 Gait).
// Input: event frames [T,B,C_in,H,W] (time-major); output: firing rate of the class neurons [B,classes]
// (the mean of their spikes over T).
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
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

class DvsNetImpl : public torch::nn::Cloneable<DvsNetImpl> {
 public:
  explicit DvsNetImpl(const DvsNetOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// x [T,B,C_in,H,W] -> [B,num_classes], the mean over T of the output layer's spikes.
  torch::Tensor forward(const torch::Tensor& x);

  DvsNetOptions options;
  torch::nn::ModuleList convs{nullptr};
  torch::nn::ModuleList fcs{nullptr};
};
TORCH_MODULE(DvsNet);

/// Number of trainable parameters of a module.
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace masnn
