// Networks by name, so that configs and checkpoints can name the network they use.
#pragma once

#include <torch/nn/modules/container/any.h>

#include <string>
#include <vector>

#include "masnn/attention/attention_type.h"
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
  int64_t in_channels = 2;  ///< input planes (2 polarities for events)
  int64_t input_size = 32;  ///< side of the square input frames
  int64_t num_classes = 11;
};

/// Names build_model knows, with a one-line description each.
std::vector<std::pair<std::string, std::string>> model_names();

/// The spec of a named network with its preset's input size, classes and attention ratios (the Gait network:
/// 128x128, 21 classes, t_ratio 2; the others 32x32, 11 classes, t_ratio 5). Short names are accepted:
/// gesture, gait, small. Throws std::invalid_argument for an unknown name, listing the known ones.
ModelSpec default_model_spec(const std::string& name);

/// Builds the named network (x [T,B,C,H,W] -> [B,num_classes]). Throws std::invalid_argument for an unknown
/// name, listing the known ones.
torch::nn::AnyModule build_model(const ModelSpec& spec);

}  // namespace masnn
