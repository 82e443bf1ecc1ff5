#include "masnn/apps/demo.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "masnn/analysis/analyze.h"
#include "masnn/analysis/energy.h"
#include "masnn/models/registry.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/factory.h"
#include "masnn/train/trainer.h"

namespace masnn::apps {

using namespace train;  // the demo is a training run and its analysis

const char* const kDemoConfig =
    R"(# The demo's settings: synthetic DVS gestures (generated on first use), a small MA-SNN, minutes on 2 CPU cores.
[model]
name = "dvs-small"
attention = "TCSA"
t_ratio = 4
c_ratio = 8

[data]
dataset = "synthetic-gesture"
steps = 16
dt_ms = 50
ds = 4
clips = 3

[train]
epochs = 8
batch_size = 8
optimizer = "adam"
lr = 1e-3
scheduler = "plateau"
loss = "mse"
seed = 1
out_dir = "runs/demo"
)";

DemoResult run_demo(const std::string& out_dir, const std::vector<std::string>& overrides, bool quiet) {
  namespace fs = std::filesystem;
  DemoResult result;
  result.out_dir = out_dir;
  const std::string data_root = (fs::path(out_dir) / "synthetic-gesture").string();
  std::vector<analysis::Analysis> analyses;
  for (const char* attention : {"none", "TCSA"}) {
    std::vector<std::string> sets = overrides;
    sets.push_back(std::string("model.attention=") + attention);
    sets.push_back(train::config_assignment("data.root", data_root));
    sets.push_back(train::config_assignment("train.out_dir", (fs::path(out_dir) / attention).string()));
    if (quiet) sets.push_back("train.quiet=true");
    const TrainConfig config = parse_config(kDemoConfig, "demo config", sets);
    check_model_config(config.model);
    if (!quiet && !fs::exists(fs::path(data_root) / "DvsGesture" / "trials_to_test.txt"))
      std::cerr << fmt::format("demo: generating synthetic DVS gestures ({} users, AEDAT 3.1) in {}\n",
                               config.data.synth_users, data_root);
    auto train_set = make_dataset(config, data::Split::Train);
    auto test_set = make_dataset(config, data::Split::Test);
    result.train_samples = static_cast<int64_t>(train_set->size());
    result.test_samples = static_cast<int64_t>(test_set->size());
    if (!quiet)
      std::cerr << fmt::format("demo: training {} with attention {} on {} samples, {} epochs, T={}\n",
                               config.model.name, attention, train_set->size(), config.train.epochs, config.data.steps);
    Trainer trainer(config, train_set, test_set);
    const auto t0 = std::chrono::steady_clock::now();
    trainer.fit();
    DemoRun run;
    run.attention = attention;
    run.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    run.parameters = count_parameters(trainer.module());
    run.checkpoint = (fs::path(config.train.out_dir) / "best.pt").string();
    // The best checkpoint, analysed: accuracy, spikes and energy, with its report beside the run.
    analysis::AnalyzeOptions ao;
    ao.checkpoint = run.checkpoint;
    ao.quiet = true;
    const analysis::Analysis a = analysis::analyze_checkpoint(ao);
    analysis::write_analysis(a, (fs::path(config.train.out_dir) / "analysis").string());
    run.accuracy = a.accuracy;
    run.vote_accuracy = a.vote_accuracy;
    run.spikes_per_sample = a.spiking_total.spikes_per_sample;  // per clip: each clip is one sample of T steps
    run.firing_rate = a.spiking_total.firing_rate;
    run.energy_uj = a.energy.total.snn_energy_pj * 1e-6;
    run.ann_energy_uj = a.energy.total.ann_energy_pj * 1e-6;
    run.energy_with_memory_uj = a.energy.total.snn_with_memory_pj * 1e-6;
    run.ann_energy_with_memory_uj = a.energy.total.ann_with_memory_pj * 1e-6;
    run.dense_macs = a.energy.total.dense_macs;
    analyses.push_back(a);
    result.runs.push_back(run);
  }
  // The comparison report: MA-SNN (the model) against the vanilla SNN (the base), as `masnn analyze --compare`.
  const analysis::Report report = analysis::make_report(analyses.at(1), analyses.at(0));
  result.report_dir = (fs::path(out_dir) / "report").string();
  analysis::write_report(report, result.report_dir);
  result.relative_efficiency = report.comparison->energy.relative_efficiency;
  result.spikes_reduction = report.comparison->spikes_reduction;
  result.energy_reduction = report.comparison->energy_reduction;
  return result;
}

}  // namespace masnn::apps
