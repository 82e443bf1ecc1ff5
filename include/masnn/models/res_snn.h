// The Res-SNN family of the ImageNet experiments (REFERENCE.md 3.3): the MS-ResNet backbone (pre-activation basic
// blocks with a membrane shortcut) with attention in every block, Res-SNN-18/34/104 and smaller variants.
//
// Layout. Inside, every tensor is time-major [T,B,C,H,W]. forward takes either a static image batch [B,C,H,W]
// (the reference repeats it T times; here the stem convolution runs once, since every step sees the same image)
// or a sequence [T,B,C,H,W], and returns logits [B,num_classes].
//
//   stem:   conv kxk stride s (no bias) -> BN                                   (no max-pool)
//   block:  LIF -> conv3x3 (stride) -> BN -> LIF -> conv3x3 -> BN(init 0.2 V_th) -> attention (+ReLU)
//           + shortcut: identity, or when the stride or the width changes avg-pool(stride) -> conv1x1 -> BN
//           (the sum stays real-valued: the next block's first LIF integrates it)
//   head:   LIF -> global average pool -> mean over T -> dropout -> linear
// Conv and BN see the T*B samples of a batch together: BN normalises each channel over (T,B,H,W), as the
// reference's BatchNorm3d over (B,T,H,W) does. BN weights start at V_th, biases at 0.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "masnn/attention/multi_attention.h"
#include "masnn/models/spiking_blocks.h"
#include "masnn/neuron/lif.h"

namespace masnn {

/// The attention of the Res-SNN blocks in the reference: CSA, c_ratio 8, t_ratio 1, SA kernel 3, conv-post.
LayerAttention res_snn_reference_attention();

/// Settings of one basic block.
struct ResSnnBlockOptions {
  ResSnnBlockOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  /// Stride of the first conv (and of the shortcut's average pool).
  TORCH_ARG(int64_t, stride) = 1;
  /// T, needed by temporal attention only.
  TORCH_ARG(int64_t, steps) = 1;
  /// Attention on the branch output before the add. Only the conv-post placement exists in a residual block.
  TORCH_ARG(LayerAttention, attention) = res_snn_reference_attention();
  TORCH_ARG(LIFOptions, lif) = LIFOptions::reference_resnet();
};

/// The recurrent state of a Res-SNN block for step-at-a-time inference: its first neuron's, and its second
/// neuron's with the causal window of the attention after it.
struct ResSnnBlockStepState {
  BlockStepState first, second;
  /// Puts row `row` (every row when -1) at rest.
  void reset(int64_t row = -1);
};

/// x [T,B,Cin,H,W] (real-valued membrane input) -> branch(x) + shortcut(x), [T,B,Cout,ceil(H/s),ceil(W/s)].
/// Every conv and BN and the attention are replaceable (layer_replacement.h).
class ResSnnBlockImpl : public torch::nn::Cloneable<ResSnnBlockImpl>, public ReplaceableLayers {
 public:
  explicit ResSnnBlockImpl(const ResSnnBlockOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  bool replace_layer(const std::string& name, const std::shared_ptr<torch::nn::Module>& replacement) override;
  torch::Tensor forward(const torch::Tensor& x);
  /// The residual branch alone (LIF -> conv -> BN -> LIF -> conv -> BN -> attention).
  torch::Tensor branch(const torch::Tensor& x);
  /// The shortcut alone: x itself, or avg-pool -> conv1x1 -> BN.
  torch::Tensor shortcut(const torch::Tensor& x);
  /// Step-at-a-time inference (eval mode): one step x_t [B,Cin,H,W] -> [B,Cout,H',W'], the neurons' membranes
  /// and the attention's causal window carried in `state` (as SpikingConvBlockImpl::forward_step).
  torch::Tensor forward_step(const torch::Tensor& x_t, ResSnnBlockStepState& state);
  /// True when the shortcut is avg-pool -> conv1x1 -> BN (the stride or the width changes).
  bool has_projection() const { return !shortcut_conv.is_empty(); }

  ResSnnBlockOptions options;
  LIF lif1{nullptr}, lif2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  MultiDimAttention attention{nullptr};  ///< absent for attention "none"
  torch::nn::Conv2d shortcut_conv{nullptr};
  torch::nn::BatchNorm2d shortcut_bn{nullptr};
};
TORCH_MODULE(ResSnnBlock);

/// Settings of a Res-SNN. Defaults: Res-SNN-18 for ImageNet (3x224x224, 1000 classes, T 1, CSA).
struct ResSnnOptions {
  /// Basic blocks per stage.
  TORCH_ARG(std::vector<int64_t>, blocks) = std::vector<int64_t>{2, 2, 2, 2};
  /// Output channels per stage.
  TORCH_ARG(std::vector<int64_t>, widths) = std::vector<int64_t>{64, 128, 256, 512};
  /// Stride of the first block of each stage.
  TORCH_ARG(std::vector<int64_t>, strides) = std::vector<int64_t>{2, 2, 2, 2};
  TORCH_ARG(int64_t, stem_width) = 64;
  TORCH_ARG(int64_t, stem_kernel) = 7;  ///< odd; padding kernel/2
  TORCH_ARG(int64_t, stem_stride) = 2;
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, num_classes) = 1000;
  /// T: how often a static image is repeated, and the size of the temporal attention's MLP.
  TORCH_ARG(int64_t, steps) = 1;
  TORCH_ARG(LayerAttention, attention) = res_snn_reference_attention();
  TORCH_ARG(double, dropout) = 0.2;
  TORCH_ARG(LIFOptions, lif) = LIFOptions::reference_resnet();

 public:
  /// Res-SNN-18 [2,2,2,2], -34 [3,4,6,3] or -104 [3,8,32,8] as in REFERENCE.md 3.3. Throws
  /// std::invalid_argument for another depth.
  static ResSnnOptions depth(int64_t depth);
  /// A small variant for 28x28 grey images (Fashion-MNIST): stem 3x3 stride 1 to 16 channels, stages 16-32-64
  /// with one block each and strides 1-2-2 (28 -> 28 -> 14 -> 7), 1 input channel, 10 classes.
  static ResSnnOptions mini();
  /// Throws std::invalid_argument naming the setting when one is out of range.
  void validate() const;
};

/// The state of every block and of the head's neuron of a ResSnn for step-at-a-time inference.
struct ResSnnStepState {
  std::vector<ResSnnBlockStepState> blocks;
  BlockStepState head;
  /// Puts row `row` (every row when -1) at rest.
  void reset(int64_t row = -1);
};

/// A Res-SNN: x [B,C,H,W] (static image, repeated T = options.steps times) or [T,B,C,H,W] (any T; the built T
/// when the attention has TA) -> logits [B,num_classes]. Any input side works (global pooling); sides not
/// divisible by the strides round up, as the convs do.
/// stem_conv, stem_bn and fc are replaceable (layer_replacement.h).
class ResSnnImpl : public torch::nn::Cloneable<ResSnnImpl>, public ReplaceableLayers {
 public:
  explicit ResSnnImpl(const ResSnnOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  bool replace_layer(const std::string& name, const std::shared_ptr<torch::nn::Module>& replacement) override;
  torch::Tensor forward(const torch::Tensor& x);
  /// The stem's output [T,B,stem_width,H',W'] (the membrane input of the first block).
  torch::Tensor stem(const torch::Tensor& x);
  /// The logits [B,num_classes] from the last stage's output [T,B,C,H,W].
  torch::Tensor head(const torch::Tensor& features);
  /// Step-at-a-time inference (eval mode): one step x_t [B,C,H,W] -> this step's share of the logits, fc applied
  /// to the step's pooled head spikes [B,num_classes] (fc is affine: the mean of T steps from rest is forward's
  /// logits on those steps when no attention pools over time; TA and CA/SA over T are causal).
  torch::Tensor forward_step(const torch::Tensor& x_t, ResSnnStepState& state);
  /// Block `index` of stage `stage`.
  ResSnnBlock block(size_t stage, size_t index) const;

  ResSnnOptions options;
  torch::nn::Conv2d stem_conv{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  torch::nn::ModuleList stages{nullptr};  ///< one ModuleList of ResSnnBlocks per stage
  LIF head_lif{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ResSnn);

/// One row of a Res-SNN summary: the stem, each stage, the head.
struct ResSnnStageSummary {
  std::string name;                   ///< stem, stage1.., head
  std::string layout;                 ///< e.g. "2 x basic block 128, stride 2"
  std::vector<int64_t> output_shape;  ///< per time step and sample: [C,H,W] ([classes] for the head)
  int64_t params = 0;                 ///< trainable parameters
  int64_t macs = 0;                   ///< dense multiply-accumulates per sample over T (the stem once: static image)
};

/// The rows of a Res-SNN for a square input of side `input_size`, computed from the options alone (nothing is
/// allocated, so Res-SNN-104 is instant). MACs count convolutions, the linear layer and the attention (MLPs, SA
/// conv); the stem is counted once, as forward computes it for a static image.
std::vector<ResSnnStageSummary> summarize_res_snn(const ResSnnOptions& options, int64_t input_size);

/// The one-line description pretty_print gives of the Res-SNN `options` builds, without building it.
std::string describe_res_snn(const ResSnnOptions& options);

/// Trainable parameters of the Res-SNN `options` builds, without building it.
int64_t res_snn_parameter_count(const ResSnnOptions& options);

}  // namespace masnn
