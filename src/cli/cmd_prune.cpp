// `masnn prune --checkpoint CKPT [--data DIR] [--ta-keep R]... [--ca-threshold X]... [--setting S]...`: accuracy
// against the work skipped by attention-guided pruning, one row per setting, measured on the test split.
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "checks.h"
#include "command.h"
#include "json_output.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/models/registry.h"
#include "masnn/serve/pruning.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/factory.h"
#include "masnn/train/trainer.h"

namespace masnn::cli {
namespace {

struct PruneArgs {
  std::string checkpoint, data, json;
  std::vector<std::string> sets, settings;
  std::vector<int64_t> ta_topk, ca_topk;
  std::vector<double> ta_threshold, ca_threshold, ta_keep, ca_keep;
  int64_t clips = 0, batch = 1;
  bool quiet = false, no_skip = false;
};

struct Row {
  serve::PruneOptions options;
  train::Evaluation eval;
  serve::PruneStats stats;
  double seconds = 0;
};

void run(const PruneArgs& a) {
  const JsonOutput json_out(a.json, "prune");  // checked before the work
  train::CheckpointInfo info;
  torch::nn::AnyModule model = train::load_model(a.checkpoint, &info);
  serve::PrunedModel pruned(model, example_input(info.spec));
  const bool has_ta = pruned->can_prune_steps(), has_ca = pruned->can_prune_channels();

  // The settings: one row each, after the unpruned baseline.
  std::vector<serve::PruneOptions> settings{serve::PruneOptions()};
  auto add = [&](serve::PruneOptions o) {
    o.skip = !a.no_skip;
    o.validate();
    settings.push_back(o);
  };
  for (auto k : a.ta_topk) add(serve::PruneOptions::parse("ta-topk=" + std::to_string(k)));
  for (auto v : a.ta_threshold) add(serve::PruneOptions::parse(fmt::format("ta-threshold={}", v)));
  for (auto v : a.ta_keep) add(serve::PruneOptions::parse(fmt::format("ta-keep={}", v)));
  for (auto k : a.ca_topk) add(serve::PruneOptions::parse("ca-topk=" + std::to_string(k)));
  for (auto v : a.ca_threshold) add(serve::PruneOptions::parse(fmt::format("ca-threshold={}", v)));
  for (auto v : a.ca_keep) add(serve::PruneOptions::parse(fmt::format("ca-keep={}", v)));
  for (const auto& s : a.settings) add(serve::PruneOptions::parse(s));
  if (settings.size() == 1) {  // the default sweep: keep 3/4, 1/2, 1/4 of the steps and of the channels
    for (const char* r : {"0.75", "0.5", "0.25"}) {
      if (has_ta) add(serve::PruneOptions::parse(std::string("ta-keep=") + r));
      if (has_ca) add(serve::PruneOptions::parse(std::string("ca-keep=") + r));
    }
    if (has_ta && has_ca) add(serve::PruneOptions::parse("ta-keep=0.5,ca-keep=0.5"));
  }
  for (const auto& s : settings) pruned->set_options(s);  // checked before the work

  auto sets = a.sets;
  if (!a.data.empty()) sets.push_back(train::config_assignment("data.root", a.data));
  if (a.clips > 0) sets.push_back("data.clips=" + std::to_string(a.clips));
  sets.push_back("train.batch_size=" + std::to_string(a.batch));
  sets.push_back("train.quiet=true");
  const train::TrainConfig config = train::parse_checkpoint_config(info.config_toml, a.checkpoint, sets);
  const train::SplitData test = train::open_test_split_for(config, info.spec.num_classes, a.checkpoint);
  if (!a.quiet)
    std::cerr << fmt::format("prune: {} ({}, attention {}, T={}) on {}: {} samples x {} clips, batch {}, {} settings\n",
                             a.checkpoint, info.spec.name, info.spec.attention.name(), info.spec.steps, test.name,
                             test.samples, test.loader->columns_per_sample(), a.batch, settings.size());
  std::vector<Row> rows;
  torch::nn::AnyModule any(pruned);
  for (const auto& s : settings) {
    pruned->set_options(s);
    const auto t0 = std::chrono::steady_clock::now();
    Row r;
    r.options = s;
    r.eval = train::evaluate_model(any, *test.loader, test.input.num_classes, config.train.loss, true);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.stats = pruned->stats();
    rows.push_back(r);
    if (!a.quiet) std::cerr << fmt::format("  {:<28} done in {:.1f} s\n", s.describe(), r.seconds);
  }

  const double base_sops = rows[0].stats.synaptic_ops();
  std::cout << fmt::format("{:<28} {:>8} {:>8} {:>9} {:>11} {:>9} {:>9} {:>8} {:>8}\n", "pruning", "acc %", "clip %",
                           "MACs/smp", "MACs skip %", "SOPs rel", "steps -%", "chan -%", "time s");
  for (const auto& r : rows) {
    const auto& st = r.stats;
    const double per_sample = st.samples > 0 ? st.computed_macs() / static_cast<double>(st.samples) : 0;
    std::cout << fmt::format(
        "{:<28} {:>8.2f} {:>8.2f} {:>9} {:>11.1f} {:>9.3f} {:>9} {:>8} {:>8.1f}\n", r.options.describe(),
        100 * r.eval.accuracy, 100 * r.eval.clip_accuracy, analysis::human_count(per_sample),
        100 * st.skipped_fraction(), base_sops > 0 ? st.synaptic_ops() / base_sops : 0.0,
        st.steps_total > 0 ? fmt::format("{:.1f}", 100.0 * st.steps_dropped / st.steps_total) : "-",
        st.channels_total > 0 ? fmt::format("{:.1f}", 100.0 * st.channels_dropped / st.channels_total) : "-",
        r.seconds);
  }
  std::cout << "acc: voted test accuracy; MACs/smp: conv+linear MACs computed per clip; MACs skip: share of the dense "
               "conv+linear MACs skipped (silent rows and input channels; in the none row, the network's own silence); "
               "SOPs rel: synaptic operations (input spikes x fan-out) vs no pruning; "
               "steps/chan -: share of (layer, clip, step) / (layer, clip, channel) dropped\n";
  if (!a.json.empty()) {
    nlohmann::json j;
    j["checkpoint"] = a.checkpoint;
    j["dataset"] = test.name;
    j["batch"] = a.batch;
    for (const auto& r : rows) {
      const auto& st = r.stats;
      nlohmann::json row = {{"setting", r.options.describe()},
                            {"skip", r.options.skip},
                            {"accuracy", r.eval.accuracy},
                            {"vote_accuracy", r.eval.vote_accuracy},
                            {"clip_accuracy", r.eval.clip_accuracy},
                            {"dense_macs", st.dense_macs()},
                            {"computed_macs", st.computed_macs()},
                            {"skipped_fraction", st.skipped_fraction()},
                            {"synaptic_ops", st.synaptic_ops()},
                            {"clips", st.samples},
                            {"steps_total", st.steps_total},
                            {"steps_dropped", st.steps_dropped},
                            {"channels_total", st.channels_total},
                            {"channels_dropped", st.channels_dropped},
                            {"seconds", r.seconds}};
      for (const auto& l : st.layers)
        row["layers"].push_back({{"name", l.name},
                                 {"dense_macs", l.dense_macs},
                                 {"computed_macs", l.computed_macs},
                                 {"input_nonzeros", l.input_nonzeros},
                                 {"synaptic_ops", l.synaptic_ops}});
      j["rows"].push_back(row);
    }
    json_out.write(j);
  }
}

RegisterCommand reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "prune", "Attention-guided pruning at inference: accuracy against the work skipped, on the test split");
  auto a = std::make_shared<PruneArgs>();
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint (.pt) of a network with TA and/or CA (any of masnn's)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", a->data, "dataset folder (overrides data.root of the checkpoint's config)");
  cmd->add_option("--set", a->sets, "override a key of the checkpoint's config (repeatable)");
  cmd->add_option("--ta-topk", a->ta_topk, "a row keeping the K steps with the highest TA weight (repeatable)")
      ->check(non_negative());
  cmd->add_option("--ta-threshold", a->ta_threshold, "a row dropping steps with TA weight below X (repeatable)")
      ->check(unit_interval(false));
  cmd->add_option("--ta-keep", a->ta_keep, "a row keeping the fraction R of the steps (repeatable)")
      ->check(unit_interval(true));
  cmd->add_option("--ca-topk", a->ca_topk, "a row keeping the K channels with the highest CA weight (repeatable)")
      ->check(non_negative());
  cmd->add_option("--ca-threshold", a->ca_threshold, "a row dropping channels with CA weight below X (repeatable)")
      ->check(unit_interval(false));
  cmd->add_option("--ca-keep", a->ca_keep, "a row keeping the fraction R of the channels (repeatable)")
      ->check(unit_interval(true));
  cmd->add_option("--setting", a->settings, "a row with several, e.g. ta-keep=0.5,ca-threshold=0.4 (repeatable)");
  cmd->add_option("--clips", a->clips, "test clips per sample (voting)")->check(positive());
  cmd->add_option("--batch", a->batch,
                  "clips per forward (each clip is still run alone to skip its own silent steps and channels)")
      ->check(positive())
      ->capture_default_str();
  cmd->add_flag("--no-skip", a->no_skip,
                "zero the dropped steps/channels but compute everything (the reference's WTA)");
  cmd->add_option("--json", a->json, "also write the table (and per-layer work) to this JSON file");
  cmd->add_flag("--quiet,-q", a->quiet, "no progress on standard error");
  cmd->callback([a] { run(*a); });
});

}  // namespace
}  // namespace masnn::cli
