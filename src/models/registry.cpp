#include "masnn/models/registry.h"

#include <torch/torch.h>

#include <stdexcept>

#include "masnn/models/dvs_net.h"

namespace masnn {

std::vector<std::pair<std::string, std::string>> model_names() {
  return {
      {"dvs-gesture", "3 conv layers 64-128-128, fc 256 (REFERENCE.md 3.1, the paper's Gesture network)"},
      {"dvs-gait", "5 conv layers 32..512, fc 256 (REFERENCE.md 3.2, the paper's Gait network)"},
      {"dvs-small", "2 conv layers 32-64, fc 128: a small network for the demo and quick runs"},
      {"res-snn-18", "Res-SNN-18, blocks 2-2-2-2, CSA in every block (REFERENCE.md 3.3): 3x224x224, 1000 classes"},
      {"res-snn-34", "Res-SNN-34, blocks 3-4-6-3, CSA in every block (REFERENCE.md 3.3): 3x224x224, 1000 classes"},
      {"res-snn-104", "Res-SNN-104, blocks 3-8-32-8, CSA in every block (REFERENCE.md 3.3): 3x224x224, 1000 classes"},
      {"res-snn-mini",
       "small Res-SNN: stem 3x3 stride 1, stages 16-32-64 of one block, CSA: 1x28x28 (Fashion-MNIST), 10 classes"}};
}

namespace {

[[noreturn]] void unknown_model(const std::string& name) {
  std::string known;
  for (const auto& [n, _] : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("model '" + name + "' is unknown; known models: " + known);
}

}  // namespace

bool is_res_snn(const std::string& name) {
  return name == "res-snn-18" || name == "res-snn-34" || name == "res-snn-104" || name == "res-snn-mini";
}

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
  if (is_res_snn(s.name)) {
    const LayerAttention a = res_snn_reference_attention();
    s.attention = a.type;
    s.t_ratio = a.t_ratio;
    s.c_ratio = a.c_ratio;
    s.kernel_size = a.kernel_size;
    s.lif = LIFOptions::reference_resnet();
    s.steps = 1;
    const bool mini = s.name == "res-snn-mini";
    s.in_channels = mini ? 1 : 3;
    s.input_size = mini ? 28 : 224;
    s.num_classes = mini ? 10 : 1000;
  }
  return s;
}

ResSnnOptions res_snn_options(const ModelSpec& s) {
  ResSnnOptions o;
  if (s.name == "res-snn-18")
    o = ResSnnOptions::depth(18);
  else if (s.name == "res-snn-34")
    o = ResSnnOptions::depth(34);
  else if (s.name == "res-snn-104")
    o = ResSnnOptions::depth(104);
  else if (s.name == "res-snn-mini")
    o = ResSnnOptions::mini();
  else
    throw std::invalid_argument("model '" + s.name + "' is not a Res-SNN (res-snn-18, res-snn-34, res-snn-104, " +
                                "res-snn-mini)");
  LayerAttention a;
  a.type = s.attention;
  a.placement = s.placement;
  a.t_ratio = s.t_ratio;
  a.c_ratio = s.c_ratio;
  a.kernel_size = s.kernel_size;
  a.per_step = s.per_step;
  return o.attention(a).lif(s.lif).steps(s.steps).in_channels(s.in_channels).num_classes(s.num_classes);
}

torch::nn::AnyModule build_model(const ModelSpec& s) {
  if (is_res_snn(s.name)) return torch::nn::AnyModule(ResSnn(res_snn_options(s)));
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

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

torch::Tensor example_input(const ModelSpec& spec, int64_t batch) {
  const int64_t side = spec.input_size;
  if (is_res_snn(spec.name)) return torch::zeros({batch, spec.in_channels, side, side});
  return torch::zeros({spec.steps, batch, spec.in_channels, side, side});
}

}  // namespace masnn
