// `masnn import --pytorch STATE_DICT.pt --model NAME --out CKPT`: weights trained with the reference PyTorch code.
// `masnn export --checkpoint CKPT --pytorch OUT.pt`: masnn weights as a state_dict in the reference's naming.
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

#include "command.h"
#include "masnn/models/dvs_net.h"
#include "masnn/models/pytorch_state_dict.h"
#include "masnn/models/reference_names.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"

namespace masnn::cli {
namespace {

struct ImportArgs {
  std::string pytorch, model = "dvs-gesture", attention = "TCSA", out, dataset;
  int64_t steps = 60, classes = 0, input_size = 0, t_ratio = 0, c_ratio = 8;
};

DvsNet as_dvs_net(torch::nn::AnyModule& m, const std::string& what) {
  auto net = std::dynamic_pointer_cast<DvsNetImpl>(m.ptr());
  if (!net)
    throw std::invalid_argument(what + ": only the DVS networks can be imported from or exported to the reference");
  return DvsNet(net);
}

void run_import(const ImportArgs& a) {
  ModelSpec spec = default_model_spec(a.model);
  spec.attention = AttentionType::parse(a.attention);
  spec.steps = a.steps;
  const bool gait = spec.name == "dvs-gait";
  if (a.t_ratio > 0) spec.t_ratio = a.t_ratio;
  spec.c_ratio = a.c_ratio;
  if (a.classes > 0) spec.num_classes = a.classes;
  if (a.input_size > 0) spec.input_size = a.input_size;
  spec.lif = LIFOptions::reference_dvs();
  torch::nn::AnyModule model = build_model(spec);
  DvsNet net = as_dvs_net(model, "--model " + a.model);
  const auto reference = read_pytorch_state_dict(a.pytorch);
  load_state_dict(*net, dvs_net_from_reference(reference, net->options));

  // The config stored with the checkpoint describes the network, so that `masnn eval --data DIR` can run it.
  train::TrainConfig config;
  config.model.name = spec.name;
  config.model.attention = spec.attention.name();
  config.model.t_ratio = spec.t_ratio;
  config.model.c_ratio = spec.c_ratio;
  config.data.steps = spec.steps;
  config.data.dataset = a.dataset.empty() ? (gait ? "dvs128-gait" : "dvs128-gesture") : a.dataset;
  config.data.ds = gait ? 1 : 4;
  config.data.slicing = gait ? "time-bins" : "time-window";
  train::CheckpointInfo info;
  info.spec = spec;
  info.config_toml = train::to_toml(config);
  train::save_checkpoint(a.out, *net, nullptr, info);
  std::cout << fmt::format("imported {} tensors from {} into {} ({}, attention {}, T={}); wrote {}\n", reference.size(),
                           a.pytorch, spec.name, count_parameters(*net), spec.attention.name(), spec.steps, a.out);
}

void run_export(const std::string& checkpoint, const std::string& out) {
  torch::nn::AnyModule model = train::load_model(checkpoint);
  const auto state = dvs_net_to_reference(as_dvs_net(model, checkpoint));
  write_pytorch_state_dict(state, out);
  std::cout << fmt::format("wrote {} tensors in the reference's naming to {}\n", state.size(), out);
}

RegisterCommand reg_import([](CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Import weights trained with the reference PyTorch code (a state_dict .pt)");
  auto a = std::make_shared<ImportArgs>();
  cmd->add_option("--pytorch", a->pytorch, "state_dict or checkpoint saved with torch.save")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--model", a->model, "dvs-gesture or dvs-gait")->capture_default_str();
  cmd->add_option("--attention", a->attention, "attention type the reference model was trained with")
      ->capture_default_str();
  cmd->add_option("--T", a->steps, "time steps the reference model was trained with")->capture_default_str();
  cmd->add_option("--t-ratio", a->t_ratio, "temporal reduction ratio (default 5 gesture, 2 gait)");
  cmd->add_option("--c-ratio", a->c_ratio, "channel reduction ratio")->capture_default_str();
  cmd->add_option("--classes", a->classes, "classes (default 11 gesture, 21 gait)");
  cmd->add_option("--input-size", a->input_size, "frame side (default 32 gesture, 128 gait)");
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
