// `masnn model NAME [--set key=value]...`: a network's layers, block output shapes, parameters and operations
// (every network: per block and per layer, from one forward of zeros with an operation counter attached;
// Res-SNNs also per stage, from the options without building).
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

#include "checks.h"
#include "command.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/models/registry.h"
#include "masnn/models/res_snn.h"
#include "masnn/train/config.h"
#include "masnn/train/factory.h"

namespace masnn::cli {
namespace {

struct ModelArgs {
  std::string name;
  std::string attention;  ///< "": TCSA for the DVS networks, the preset's (CSA) for the Res-SNNs
  std::string placement = "conv-post";
  int64_t steps = 0;              ///< 0: 60 for the DVS networks, the preset's (1) for the Res-SNNs
  int64_t classes = 0;            ///< 0: the preset's
  int64_t input_size = 0;         ///< 0: the preset's
  std::vector<std::string> sets;  ///< config keys (model.*, data.steps) applied last
};

// The named network (short names allowed) with the preset input size, classes and t_ratio, then the options.
ModelSpec spec_from(const ModelArgs& a) {
  ModelSpec s = default_model_spec(a.name);
  const bool res = is_res_snn(s.name);
  if (!a.attention.empty() || !res) s.attention = AttentionType::parse(a.attention.empty() ? "TCSA" : a.attention);
  s.placement = parse_attention_placement(a.placement);
  if (a.steps < 0) throw std::invalid_argument(fmt::format("model: --T must be >= 1, got {}", a.steps));
  if (a.classes < 0) throw std::invalid_argument(fmt::format("model: --classes must be >= 1, got {}", a.classes));
  if (a.input_size < 0)
    throw std::invalid_argument(fmt::format("model: --input-size must be >= 1, got {}", a.input_size));
  if (a.steps > 0 || !res) s.steps = a.steps > 0 ? a.steps : 60;
  if (a.classes > 0) s.num_classes = a.classes;
  if (a.input_size > 0) s.input_size = a.input_size;
  if (!a.sets.empty()) {
    // The same keys as a training config, starting from the network and options above.
    std::vector<std::string> sets{"model.name=" + s.name,
                                  "model.attention=" + s.attention.name(),
                                  "model.placement=" + to_string(s.placement),
                                  "model.t_ratio=" + std::to_string(s.t_ratio),
                                  "model.c_ratio=" + std::to_string(s.c_ratio),
                                  "data.steps=" + std::to_string(s.steps)};
    if (res) sets.push_back("model.lif.neuron=reference-resnet");
    sets.insert(sets.end(), a.sets.begin(), a.sets.end());
    const train::TrainConfig c = train::parse_config("", "masnn model --set", sets);
    s.attention = c.model.attention;
    s.placement = c.model.placement;
    s.t_ratio = c.model.t_ratio;
    s.c_ratio = c.model.c_ratio;
    s.kernel_size = c.model.kernel_size;
    s.per_step = c.model.per_step;
    s.lif = train::lif_options(c.model);
    s.steps = c.data.steps;
  }
  return s;
}

// A Res-SNN: one row per stage (from the options, without building) and the first block's modules.
void print_res_snn(const ModelSpec& spec) {
  const ResSnnOptions options = res_snn_options(spec);
  const int64_t T = spec.steps;
  const auto rows = summarize_res_snn(options, spec.input_size);
  std::cout << fmt::format(
      "model {}: attention {} (on each block's branch, before the add), T={}, input [B,{},{},{}] (a static image, "
      "repeated T times) or [T,B,{},{},{}], {} classes\n",
      spec.name, spec.attention.name(), T, spec.in_channels, spec.input_size, spec.input_size, spec.in_channels,
      spec.input_size, spec.input_size, spec.num_classes);
  std::cout << fmt::format("neuron: V_th {}, decay {}, {} reset{}\n\n", spec.lif.threshold(), spec.lif.decay(),
                           to_string(spec.lif.reset()), spec.lif.detach_reset() ? " (detached)" : "");
  std::cout << "network: " << describe_res_snn(options) << "\n\n";
  std::cout << fmt::format("stages (output per time step and sample at {}x{}):\n", spec.input_size, spec.input_size);
  std::cout << fmt::format("{:<7} {:<52} {:<14} {:>11} {:>9}\n", "stage", "layout", "output", "parameters", "MACs");
  int64_t params = 0, macs = 0;
  for (const auto& r : rows) {
    std::cout << fmt::format("{:<7} {:<52} {:<14} {:>11} {:>9}\n", r.name, r.layout,
                             analysis::shape_string(r.output_shape), r.params, analysis::human_count(r.macs));
    params += r.params;
    macs += r.macs;
  }
  std::cout << fmt::format("{:<7} {:<52} {:<14} {:>11} {:>9}\n\n", "total", "", "", params,
                           analysis::human_count(macs));
  std::cout << fmt::format(
      "MACs: dense multiply-accumulates per sample over T={} (convolutions, attention, linear; the stem once, "
      "since a static image gives every step the same input); stage total {} MACs\n",
      T, analysis::human_count(macs));
}

void run_model(const ModelArgs& a) {
  const ModelSpec spec = spec_from(a);
  if (is_res_snn(spec.name)) print_res_snn(spec);
  torch::manual_seed(0);
  torch::nn::AnyModule model = build_model(spec);
  const int64_t T = spec.steps;
  const torch::Tensor input = example_input(spec);
  const analysis::ModelSummary summary = analysis::summarize_model(model, input);
  const auto& layers = summary.layers;
  const std::string input_text = analysis::shape_string(input.sizes().vec());

  if (!is_res_snn(spec.name)) {
    std::cout << fmt::format("model {}: attention {} ({}), T={}, input {}, {} classes\n\n", spec.name,
                             spec.attention.name(), to_string(spec.placement), T, input_text, spec.num_classes);
    std::cout << "layers:\n" << *model.ptr() << "\n\n";
  }
  std::cout << fmt::format("\nblocks (one forward of zeros {}):\n", input_text);
  std::cout << fmt::format("{:<13} {:<20} {:<20} {:>12} {:>12}\n", "block", "kind", "output shape", "parameters",
                           "MACs");
  int64_t block_params = 0;
  for (const auto& b : summary.blocks) {
    std::cout << fmt::format("{:<13} {:<20} {:<20} {:>12} {:>12}\n", b.name, b.kind,
                             analysis::shape_string(b.output_shape), b.params, analysis::human_count(b.macs));
    block_params += b.params;
  }
  const int64_t total = analysis::total_macs(layers);
  std::cout << fmt::format("{:<13} {:<20} {:<20} {:>12} {:>12}\n", "total", "", "", block_params,
                           analysis::human_count(total));
  const int64_t outside = count_parameters(*model.ptr()) - block_params;
  if (outside != 0)
    std::cout << fmt::format("({} parameters sit outside the blocks, e.g. the stem's BN and the head's neuron)\n",
                             outside);
  std::cout << "\n";

  std::cout << fmt::format("operations (dense-equivalent MACs per sample over T={}; x n = applications per sample):\n",
                           T);
  std::cout << fmt::format("{:<34} {:<15} {:<14} {:<14} {:>6} {:>10} {:>14}\n", "layer", "kind", "input", "output",
                           "x n", "parameters", "MACs");
  for (const auto& l : layers)
    std::cout << fmt::format("{:<34} {:<15} {:<14} {:<14} {:>6} {:>10} {:>14}\n", l.name, l.kind,
                             analysis::shape_string(l.input_shape), analysis::shape_string(l.output_shape),
                             l.applications, l.params, l.macs);
  std::cout << fmt::format("total: {} MACs per sample ({}), {} parameters\n", total, analysis::human_count(total),
                           count_parameters(*model.ptr()));
}

RegisterCommand reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("model", "Print a network's layers, block output shapes, parameters and operations");
  auto args = std::make_shared<ModelArgs>();
  std::string names;
  for (const auto& [name, _] : model_names()) names += (names.empty() ? "" : ", ") + name;
  cmd->add_option("name", args->name, "network: " + names + " (or gesture, gait, small)")->required();
  cmd->add_option("--attention", args->attention,
                  "none, TA, CA, SA, TCA, TSA, CSA, TCSA (default TCSA for DVS, CSA for Res-SNN)");
  cmd->add_option("--placement", args->placement, "conv-post or activate-pre")->capture_default_str();
  cmd->add_option("-T,--T", args->steps, "time steps T (default 60 for DVS, 1 for Res-SNN)")->check(positive());
  cmd->add_option("--classes", args->classes, "output classes (default: the network's preset)")->check(positive());
  cmd->add_option("--input-size", args->input_size, "side of the square input frames (default: the preset's)")
      ->check(positive());
  cmd->add_option("--set", args->sets,
                  "a config key, e.g. --set model.c_ratio=4 --set model.lif.decay=0.5 (repeatable)");
  cmd->callback([args] { run_model(*args); });
});

}  // namespace
}  // namespace masnn::cli
