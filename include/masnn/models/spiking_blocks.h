// The layers of the DVS networks (REFERENCE.md 3.1): conv or linear -> BN over T*B -> pool ->
// attention -> LIF. Input and output are time-major.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "masnn/attention/attentive_lif.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/neuron/lif.h"

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

/// [T,B,Cin,H,W] -> conv3x3 (stride 1, pad 1, bias) -> BN2d over T*B -> avg-pool -> attention -> LIF
/// -> spikes [T,B,Cout,H/pool,W/pool].
class SpikingConvBlockImpl : public torch::nn::Cloneable<SpikingConvBlockImpl> {
 public:
  SpikingConvBlockImpl(int64_t in_channels, int64_t out_channels, int64_t pool, int64_t steps,
                       const LayerAttention& attention, const LIFOptions& lif);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_channels, out_channels, pool, steps;
  LayerAttention attention_options;
  LIFOptions lif_options;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  MultiDimAttention attention{nullptr};  ///< absent without attention (or with CA/SA only at activate-pre)
  LIF lif{nullptr};                      ///< the neuron at conv-post
  AttentiveLIF attentive_lif{nullptr};   ///< the neuron with CA/SA inside at activate-pre
};
TORCH_MODULE(SpikingConvBlock);

/// [T,B,Fin] -> linear (bias) -> BN1d over T*B -> TA (when the type has T) -> LIF -> spikes [T,B,Fout].
class SpikingLinearBlockImpl : public torch::nn::Cloneable<SpikingLinearBlockImpl> {
 public:
  SpikingLinearBlockImpl(int64_t in_features, int64_t out_features, int64_t steps, const LayerAttention& attention,
                         const LIFOptions& lif);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_features, out_features, steps;
  LayerAttention attention_options;
  LIFOptions lif_options;

  torch::nn::Linear linear{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  MultiDimAttention attention{nullptr};
  LIF lif{nullptr};
};
TORCH_MODULE(SpikingLinearBlock);

}  // namespace masnn
