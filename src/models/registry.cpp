#include "masnn/models/registry.h"

#include <torch/torch.h>

#include <stdexcept>

#include "masnn/models/dvs_net.h"

namespace masnn {

std::vector<std::pair<std::string, std::string>> model_names() {
  return {{"dvs-gesture", "3 conv layers 64-128-128, fc 256 (REFERENCE.md 3.1, the paper's Gesture network)"},
          {"dvs-gait", "5 conv layers 32..512, fc 256 (REFERENCE.md 3.2, the paper's Gait network)"},
          {"dvs-small", "2 conv layers 32-64, fc 128: a small network for the demo and quick runs"}};
}

namespace {

[[noreturn]] void unknown_model(const std::string& name) {
  std::string known;
  for (const auto& [n, _] : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("model '" + name + "' is unknown; known models: " + known);
}

}  // namespace

ModelSpec default_model_spec(const std::string& name) {
  ModelSpec s;
  s.name = name;
  for (const auto& known : model_names())
    if (known.first == "dvs-" + name) s.name = known.first;
  bool found = false;
  for (const auto& known : model_names()) found = found || known.first == s.name;
  if (!found) unknown_model(name);
  if (s.name == "dvs-gait") {
    s.input_size = 128;
    s.num_classes = 21;
    s.t_ratio = 2;
  }
  return s;
}

torch::nn::AnyModule build_model(const ModelSpec& s) {
  DvsNetOptions o;
  if (s.name == "dvs-gesture") {
    o = DvsNetOptions::gesture(s.steps, s.attention);
  } else if (s.name == "dvs-gait") {
    o = DvsNetOptions::gait(s.steps, s.attention);
  } else if (s.name == "dvs-small") {
    o = DvsNetOptions::gesture(s.steps, s.attention).channels({32, 64}).pools({2, 2}).hidden({128});
  } else {
    unknown_model(s.name);
  }
  LayerAttention a = o.attention();
  a.type = s.attention;
  a.placement = s.placement;
  a.t_ratio = s.t_ratio;
  a.c_ratio = s.c_ratio;
  a.kernel_size = s.kernel_size;
  a.per_step = s.per_step;
  o.attention(a).lif(s.lif).in_channels(s.in_channels).input_size(s.input_size).num_classes(s.num_classes);
  return torch::nn::AnyModule(DvsNet(o));
}

}  // namespace masnn
