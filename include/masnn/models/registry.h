// Networks by name, so that configs and checkpoints can name the network they use.
#pragma once

#include <torch/nn/modules/container/any.h>

#include <string>
#include <vector>

#include "masnn/attention/attention_type.h"
#include "masnn/models/res_snn.h"
#include "masnn/neuron/lif.h"

namespace masnn {

/// Everything needed to build a network by name.
struct ModelSpec {
  std::string name = "dvs-gesture";
  AttentionType attention;
  AttentionPlacement placement = AttentionPlacement::ConvPost;
  int64_t t_ratio = 5, c_ratio = 8, kernel_size = 3;
  bool per_step = false;
  LIFOptions lif = LIFOptions::reference_dvs();
  int64_t steps = 60;       ///< T
  int64_t in_channels = 2;  ///< input planes (2 polarities for events, 3 for RGB images)
  int64_t input_size = 32;  ///< side of the square input frames (Res-SNN: any side works; this is the nominal one)
  int64_t num_classes = 11;
};

/// Names build_model knows, with a one-line description each.
std::vector<std::pair<std::string, std::string>> model_names();

/// The spec of a named network with its preset's input size, classes and attention ratios (the Gait network:
/// 128x128, 21 classes, t_ratio 2; the other DVS networks 32x32, 11 classes, t_ratio 5, attention none; the
/// Res-SNNs: attention CSA, c_ratio 8, t_ratio 1, T 1, the Res-SNN neuron, 3x224x224 and 1000 classes, or
/// 1x28x28 and 10 classes for res-snn-mini). Short names are accepted: gesture, gait, small.
/// Throws std::invalid_argument for an unknown name, listing the known ones.
ModelSpec default_model_spec(const std::string& name);

/// True for the names of the Res-SNN family (res-snn-18, -34, -104, -mini).
bool is_res_snn(const std::string& name);

/// The ResSnnOptions of a Res-SNN spec (depth or mini preset, then the spec's attention, ratios, neuron, T,
/// input channels and classes). Throws std::invalid_argument when the name is not a Res-SNN.
ResSnnOptions res_snn_options(const ModelSpec& spec);

/// Builds the named network. DVS networks: x [T,B,C,H,W] -> [B,num_classes] (firing rates); Res-SNNs: x [B,C,H,W]
/// (static image) or [T,B,C,H,W] -> logits [B,num_classes]. Throws std::invalid_argument for an unknown name,
/// listing the known ones.
torch::nn::AnyModule build_model(const ModelSpec& spec);

/// Number of trainable parameters of a module (any network or part of one).
int64_t count_parameters(const torch::nn::Module& module);

/// Zeros shaped as one batch of `batch` inputs the spec's network takes: [T,batch,C,H,W] event frames for the DVS
/// networks, a static image [batch,C,H,W] for the Res-SNNs (at the nominal input_size).
torch::Tensor example_input(const ModelSpec& spec, int64_t batch = 1);

}  // namespace masnn
