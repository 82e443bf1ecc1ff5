// `masnn import --pytorch STATE_DICT.pt --model NAME --out CKPT`: weights trained with the reference PyTorch code
// (the DVS networks, or the ImageNet Res-SNNs).
// `masnn export --checkpoint CKPT --pytorch OUT.pt`: masnn weights as a state_dict in the reference's naming.
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

#include "checks.h"
#include "command.h"
#include "masnn/models/dvs_net.h"
#include "masnn/models/pytorch_state_dict.h"
#include "masnn/models/reference_names.h"
#include "masnn/models/registry.h"
#include "masnn/models/res_snn.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"

namespace masnn::cli {
namespace {

struct ImportArgs {
  std::string pytorch, model = "dvs-gesture", attention, out, dataset;
  int64_t steps = 0, classes = 0, input_size = 0, in_channels = 0, t_ratio = 0, c_ratio = 8;
};

// The spec of the network to import into: the named preset, then the options given.
ModelSpec import_spec(const ImportArgs& a) {
  ModelSpec spec = default_model_spec(a.model);
  const bool res = is_res_snn(spec.name);
  // The reference DVS runs of the paper use TCSA at T = 60; the reference Res-SNN blocks CSA at T = 1.
  spec.attention = AttentionType::parse(a.attention.empty() ? (res ? "CSA" : "TCSA") : a.attention);
  if (a.steps < 0 || a.classes < 0 || a.input_size < 0 || a.in_channels < 0 || a.t_ratio < 0 || a.c_ratio < 1)
    throw std::invalid_argument(
        "import: --T, --classes, --input-size, --in-channels, --t-ratio must be >= 1 and "
        "--c-ratio >= 1");
  spec.steps = a.steps > 0 ? a.steps : (res ? 1 : 60);
  if (a.t_ratio > 0) spec.t_ratio = a.t_ratio;
  spec.c_ratio = a.c_ratio;
  if (a.classes > 0) spec.num_classes = a.classes;
  if (a.input_size > 0) spec.input_size = a.input_size;
  if (a.in_channels > 0) spec.in_channels = a.in_channels;
  spec.lif = res ? LIFOptions::reference_resnet() : LIFOptions::reference_dvs();
  return spec;
}

void run_import(const ImportArgs& a) {
  const ModelSpec spec = import_spec(a);
  const bool res = is_res_snn(spec.name);
  const bool gait = spec.name == "dvs-gait";
  torch::nn::AnyModule model = build_model(spec);
  const auto reference = read_pytorch_state_dict(a.pytorch);
  load_reference_state(*model.ptr(), reference, "--model " + a.model);

  // The config stored with the checkpoint describes the network, so that `masnn eval --data DIR` can run it.
  train::TrainConfig config;
  config.model.name = spec.name;
  config.model.attention = spec.attention;
  config.model.t_ratio = spec.t_ratio;
  config.model.c_ratio = spec.c_ratio;
  config.data.steps = spec.steps;
  if (res) {
    config.model.neuron = train::NeuronPreset::ReferenceResnet;
    if (!a.dataset.empty()) config.data.dataset = a.dataset;
  } else {
    config.data.dataset = a.dataset.empty() ? (gait ? "dvs128-gait" : "dvs128-gesture") : a.dataset;
    config.data.ds = gait ? 1 : 4;
    config.data.slicing = gait ? data::FrameSlicing::TimeBins : data::FrameSlicing::TimeWindow;
  }
  train::CheckpointInfo info;
  info.spec = spec;
  info.config_toml = train::to_toml(config);
  train::save_checkpoint(a.out, *model.ptr(), nullptr, info);
  std::cout << fmt::format("imported {} tensors from {} into {} ({} parameters, attention {}, T={}); wrote {}\n",
                           reference.size(), a.pytorch, spec.name, count_parameters(*model.ptr()),
                           spec.attention.name(), spec.steps, a.out);
}

void run_export(const std::string& checkpoint, const std::string& out) {
  torch::nn::AnyModule model = train::load_model(checkpoint);
  const std::map<std::string, torch::Tensor> state = to_reference_state(*model.ptr(), checkpoint);
  write_pytorch_state_dict(state, out);
  std::cout << fmt::format("wrote {} tensors in the reference's naming to {}\n", state.size(), out);
}

RegisterCommand reg_import([](CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Import weights trained with the reference PyTorch code (a state_dict .pt)");
  auto a = std::make_shared<ImportArgs>();
  cmd->add_option("--pytorch", a->pytorch, "state_dict or checkpoint saved with torch.save")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--model", a->model, "dvs-gesture, dvs-gait, res-snn-18, res-snn-34, res-snn-104 or res-snn-mini")
      ->capture_default_str();
  cmd->add_option("--attention", a->attention,
                  "attention type the reference model was trained with (default TCSA for DVS, CSA for Res-SNN)");
  cmd->add_option("--T", a->steps, "time steps the reference model was trained with (default 60 DVS, 1 Res-SNN)")
      ->check(positive());
  cmd->add_option("--t-ratio", a->t_ratio, "temporal reduction ratio (default 5 gesture, 2 gait, 1 Res-SNN)")
      ->check(positive());
  cmd->add_option("--c-ratio", a->c_ratio, "channel reduction ratio")->check(positive())->capture_default_str();
  cmd->add_option("--classes", a->classes, "classes (default 11 gesture, 21 gait, 1000 Res-SNN)")->check(positive());
  cmd->add_option("--input-size", a->input_size, "input side recorded in the spec (default 32, 128, 224)")
      ->check(positive());
  cmd->add_option("--in-channels", a->in_channels, "input channels (default 2 DVS, 3 Res-SNN)")->check(positive());
  cmd->add_option("--dataset", a->dataset, "dataset recorded in the checkpoint's config (for masnn eval --data)");
  cmd->add_option("--out", a->out, "masnn checkpoint to write")->required();
  cmd->callback([a] { run_import(*a); });
});

RegisterCommand reg_export([](CLI::App& app) {
  auto* cmd =
      app.add_subcommand("export", "Write a checkpoint's weights as a PyTorch state_dict in the reference's naming");
  auto checkpoint = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("--checkpoint", *checkpoint, "masnn checkpoint")->required()->check(CLI::ExistingFile);
  cmd->add_option("--pytorch", *out, "state_dict file to write (torch.load reads it)")->required();
  cmd->callback([checkpoint, out] { run_export(*checkpoint, *out); });
});

}  // namespace
}  // namespace masnn::cli
