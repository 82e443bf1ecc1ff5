// `masnn eval --checkpoint CKPT [--data DIR] [--set key=value]...`: accuracy with clip voting, per class, confusion.
// `masnn eval --checkpoint CKPT --frames FILE [--outputs FILE]`: run on a tensor file (torch.save) of event frames
// [B,T,2,H,W] (DVS networks) or of images [B,C,H,W] / [B,T,C,H,W] (Res-SNNs) and write the outputs [B,classes]
// (firing rates, or logits) to a tensor file PyTorch loads. `--sparse sparse|auto` runs the layers on spikes or
// event frames event-driven, on every network.
#include <fmt/format.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "checks.h"
#include "command.h"
#include "json_output.h"
#include "masnn/models/registry.h"
#include "masnn/models/torch_archive.h"
#include "masnn/serve/sparse.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/factory.h"
#include "masnn/train/train_data.h"
#include "masnn/train/trainer.h"

namespace masnn::cli {
namespace {

struct EvalArgs {
  std::string checkpoint, data, frames, outputs, json, sparse = "dense";
  std::vector<std::string> sets;
  int64_t clips = 0;
  bool quiet = false;
};

// The model's input from the file's tensor: DVS frames [B,T,C,H,W] of the spec's size -> time-major; Res-SNN
// images [B,C,H,W] as they are (repeated T times inside), or [B,T,C,H,W] -> time-major, any side.
torch::Tensor model_input(const torch::Tensor& t, const ModelSpec& s, const std::string& path) {
  if (is_res_snn(s.name)) {
    if ((t.dim() == 4 && t.size(1) == s.in_channels) || (t.dim() == 5 && t.size(2) == s.in_channels))
      return t.dim() == 4 ? t : t.transpose(0, 1).contiguous();
    throw std::runtime_error(fmt::format(
        "{}: images must be [B,{},H,W] (or [B,T,{},H,W]) for this model ({}), normalised as in training; got {}", path,
        s.in_channels, s.in_channels, s.name, c10::str(t.sizes())));
  }
  if (t.dim() != 5 || t.size(2) != s.in_channels || t.size(3) != s.input_size || t.size(4) != s.input_size)
    throw std::runtime_error(fmt::format("{}: frames must be [B,T,{},{},{}] for this model, got {}", path,
                                         s.in_channels, s.input_size, s.input_size, c10::str(t.sizes())));
  return t.transpose(0, 1).contiguous();  // [B,T,...] -> time-major
}

// --sparse: the layers on spikes or event frames event-driven (masnn/serve/sparse.h), calibrated for calls of
// `rows` rows (time steps x samples); dense changes nothing.
serve::SparseNetwork use_synapses(torch::nn::AnyModule& model, const ModelSpec& spec, const std::string& mode,
                                  int64_t rows) {
  serve::SparseOptions o;
  o.mode = serve::parse_synapse_mode(mode, "--sparse");
  if (o.mode == serve::SynapseMode::Dense) return {};
  o.calibrate_batches = {std::max<int64_t>(1, rows)};
  serve::SparseNetwork layers = serve::enable_sparse(model, example_input(spec), o);
  std::cout << fmt::format("--sparse {}: {} layers event-driven when their input is sparse enough\n", mode,
                           layers.names.size());
  return layers;
}

// How often each replaced layer took the event-driven path.
void print_synapse_use(const serve::SparseNetwork& layers) {
  for (size_t l = 0; l < layers.names.size(); ++l) {
    const auto& s = *layers.layers[l];
    std::cout << fmt::format("  {}: input density {:.4f}, event-driven in {} of {} calls\n", layers.names[l],
                             s.inputs > 0 ? s.nonzeros / s.inputs : 0.0, s.sparse_calls, s.calls);
  }
}

void eval_frames(const EvalArgs& a) {
  train::CheckpointInfo info;
  auto model = train::load_model(a.checkpoint, &info);
  const torch::Tensor input = model_input(read_tensor_file(a.frames).to(torch::kFloat), info.spec, a.frames);
  const int64_t rows = input.dim() == 5 ? input.size(0) * input.size(1) : info.spec.steps * input.size(0);
  const serve::SparseNetwork synapses = use_synapses(model, info.spec, a.sparse, rows);
  torch::NoGradGuard ng;
  const torch::Tensor out = model.forward(input);
  print_synapse_use(synapses);
  std::cout << fmt::format("outputs [{}, {}]; predicted classes:", out.size(0), out.size(1));
  const auto pred = out.argmax(1);
  for (int64_t i = 0; i < pred.size(0); ++i) std::cout << " " << pred[i].item<int64_t>();
  std::cout << "\n";
  if (!a.outputs.empty()) write_tensor_file(a.outputs, out.contiguous());
}

void eval_dataset(const EvalArgs& a) {
  const JsonOutput json_out(a.json, "eval");  // checked before the work
  train::CheckpointInfo info;
  auto model = train::load_model(a.checkpoint, &info);
  auto sets = a.sets;
  if (!a.data.empty()) sets.push_back(train::config_assignment("data.root", a.data));
  if (a.clips > 0) sets.push_back("data.clips=" + std::to_string(a.clips));
  if (a.quiet) sets.push_back("train.quiet=true");
  const train::TrainConfig config = train::parse_checkpoint_config(info.config_toml, a.checkpoint, sets);
  const train::SplitData test = train::open_test_split_for(config, info.spec.num_classes, a.checkpoint);
  const int clips = test.loader->columns_per_sample();
  const serve::SparseNetwork synapses =
      use_synapses(model, info.spec, a.sparse, info.spec.steps * config.train.batch_size);
  const train::Evaluation e =
      train::evaluate_model(model, *test.loader, test.input.num_classes, config.train.loss, config.train.quiet);
  print_synapse_use(synapses);
  if (clips > 1) {
    std::cout << fmt::format("{}: {} samples x {} clips\n", test.name, e.samples, clips);
    std::cout << fmt::format("accuracy {:.2f}% (a sample is right when more than half its clips are)\n",
                             100 * e.accuracy);
    std::cout << fmt::format(
        "vote accuracy {:.2f}% (mean output over clips)   clip accuracy {:.2f}%   top-5 {:.2f}%   loss {:.5f}\n",
        100 * e.vote_accuracy, 100 * e.clip_accuracy, 100 * e.top5_accuracy, e.loss);
  } else {
    std::cout << fmt::format("{}: {} samples\n", test.name, e.samples);
    std::cout << fmt::format("top-1 {:.2f}%   top-5 {:.2f}%   loss {:.5f}\n", 100 * e.accuracy, 100 * e.top5_accuracy,
                             e.loss);
  }
  // Per class and the confusion matrix as text for small label sets; all of it in --json.
  constexpr size_t kMaxPrintedClasses = 20;
  if (e.per_class_accuracy.size() <= kMaxPrintedClasses) {
    std::cout << "per class (voted):";
    for (size_t c = 0; c < e.per_class_accuracy.size(); ++c)
      std::cout << fmt::format(" {}:{:.0f}%", c, 100 * e.per_class_accuracy[c]);
    std::cout << "\nconfusion (rows true, columns voted):\n";
    for (int64_t r = 0; r < e.confusion.size(0); ++r) {
      for (int64_t c = 0; c < e.confusion.size(1); ++c)
        std::cout << fmt::format("{:4}", e.confusion[r][c].item<int64_t>());
      std::cout << "\n";
    }
  } else {
    std::cout << fmt::format("({} classes: per-class accuracy and the confusion matrix are in --json)\n",
                             e.per_class_accuracy.size());
  }
  if (!a.json.empty()) {
    nlohmann::json j = {{"checkpoint", a.checkpoint},
                        {"dataset", test.name},
                        {"samples", e.samples},
                        {"clips", clips},
                        {"accuracy", e.accuracy},
                        {"vote_accuracy", e.vote_accuracy},
                        {"clip_accuracy", e.clip_accuracy},
                        {"top5_accuracy", e.top5_accuracy},
                        {"loss", e.loss},
                        {"per_class_accuracy", e.per_class_accuracy}};
    for (int64_t r = 0; r < e.confusion.size(0); ++r) {
      std::vector<int64_t> row;
      for (int64_t c = 0; c < e.confusion.size(1); ++c) row.push_back(e.confusion[r][c].item<int64_t>());
      j["confusion"].push_back(row);
    }
    json_out.write(j);
  }
}

RegisterCommand reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on a dataset's test split, or on a tensor of frames");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint (.pt) written by masnn train or import")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", a->data, "dataset folder (overrides data.root of the checkpoint's config)");
  cmd->add_option("--set", a->sets, "override a key of the checkpoint's config (repeatable)");
  cmd->add_option("--clips", a->clips, "test clips per sample (voting)")->check(positive());
  cmd->add_option("--json", a->json, "also write the results to this JSON file");
  auto* frames = cmd->add_option("--frames", a->frames,
                                 "tensor file (torch.save) of event frames [B,T,2,H,W], or of images [B,C,H,W] "
                                 "for a Res-SNN")
                     ->check(CLI::ExistingFile);
  cmd->add_option(
         "--outputs", a->outputs,
         "write the outputs [B,classes] (firing rates; logits for a Res-SNN) to this tensor file (with --frames)")
      ->needs(frames);
  cmd->add_option("--sparse", a->sparse,
                  "synaptic layers on spikes or event frames: dense (default), sparse (event-driven) or auto (by "
                  "input density against a crossover timed at start-up)")
      ->check(CLI::IsMember({"dense", "sparse", "auto"}));
  cmd->add_flag("--quiet,-q", a->quiet, "no progress output");
  cmd->callback([a] {
    if (!a->frames.empty())
      eval_frames(*a);
    else
      eval_dataset(*a);
  });
});

}  // namespace
}  // namespace masnn::cli
