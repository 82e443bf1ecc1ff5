// `masnn demo`: the main job. Synthetic gestures, vanilla SNN vs MA-SNN, side by side.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "json_output.h"
#include "masnn/apps/demo.h"

namespace masnn::cli {
namespace {

struct DemoArgs {
  std::string out = "runs/demo";
  std::vector<std::string> sets;
  bool quiet = false;
};

void run(const DemoArgs& a) {
  const auto r = apps::run_demo(a.out, a.sets, a.quiet);
  const auto& v = r.runs.at(0);
  const auto& m = r.runs.at(1);
  std::cout << fmt::format("\nmasnn demo: synthetic DVS128-Gesture-like data, {} train / {} test samples, 11 classes\n",
                           r.train_samples, r.test_samples);
  std::cout << fmt::format("{:<26} {:>14} {:>14}\n", "", "vanilla SNN", "MA-SNN (TCSA)");
  std::cout << fmt::format("{:<26} {:>13.1f}% {:>13.1f}%\n", "test accuracy", 100 * v.accuracy, 100 * m.accuracy);
  std::cout << fmt::format("{:<26} {:>13.1f}% {:>13.1f}%\n", "test accuracy (mean vote)", 100 * v.vote_accuracy,
                           100 * m.vote_accuracy);
  std::cout << fmt::format("{:<26} {:>14.0f} {:>14.0f}\n", "spikes per sample", v.spikes_per_sample,
                           m.spikes_per_sample);
  std::cout << fmt::format("{:<26} {:>14.4f} {:>14.4f}\n", "firing rate", v.firing_rate, m.firing_rate);
  std::cout << fmt::format("{:<26} {:>12.2f}uJ {:>12.2f}uJ\n", "SNN energy, compute", v.energy_uj, m.energy_uj);
  std::cout << fmt::format("{:<26} {:>12.2f}uJ {:>12.2f}uJ\n", "ANN energy, compute", v.ann_energy_uj,
                           m.ann_energy_uj);
  std::cout << fmt::format("{:<26} {:>12.2f}uJ {:>12.2f}uJ\n", "SNN energy, + memory", v.energy_with_memory_uj,
                           m.energy_with_memory_uj);
  std::cout << fmt::format("{:<26} {:>12.2f}uJ {:>12.2f}uJ\n", "ANN energy, + memory", v.ann_energy_with_memory_uj,
                           m.ann_energy_with_memory_uj);
  std::cout << fmt::format("{:<26} {:>14} {:>14}\n", "parameters", v.parameters, m.parameters);
  std::cout << fmt::format("{:<26} {:>13.0f}s {:>13.0f}s\n", "training time", v.train_seconds, m.train_seconds);
  if (v.spikes_per_sample > 0)
    std::cout << fmt::format(
        "MA-SNN vs vanilla: spikes per sample {:+.1f}%, energy efficiency {:.2f}x (rEE, REFERENCE 6)\n",
        100 * (m.spikes_per_sample / v.spikes_per_sample - 1), r.relative_efficiency);
  std::cout << "energy per sample (one test clip): compute = the paper's model, 0.9 pJ per synaptic operation (each "
               "spike or input event x the outputs it reaches), 4.6 pJ per MAC (attention modules); + memory = with "
               "the memory accesses of Lemaire et al. 2022 (docs/energy.md)\n";
  nlohmann::json j;
  for (const auto& run : r.runs)
    j["runs"].push_back({{"attention", run.attention},
                         {"accuracy", run.accuracy},
                         {"vote_accuracy", run.vote_accuracy},
                         {"spikes_per_sample", run.spikes_per_sample},
                         {"firing_rate", run.firing_rate},
                         {"parameters", run.parameters},
                         {"energy_uj", run.energy_uj},
                         {"ann_energy_uj", run.ann_energy_uj},
                         {"energy_with_memory_uj", run.energy_with_memory_uj},
                         {"ann_energy_with_memory_uj", run.ann_energy_with_memory_uj},
                         {"dense_macs", run.dense_macs},
                         {"train_seconds", run.train_seconds},
                         {"checkpoint", run.checkpoint}});
  j["relative_energy_efficiency"] = r.relative_efficiency;
  const std::string path = a.out + "/summary.json";
  JsonOutput(path, "demo").write(j);
  std::cout << fmt::format("results: {} (checkpoints and analysis reports in {}/none and {}/TCSA)\n", path, a.out,
                           a.out);
  std::cout << fmt::format(
      "comparison report (masnn analyze --compare): {}/analysis.html, numbers in {}/analysis.json\n", r.report_dir,
      r.report_dir);
}

RegisterCommand reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "Synthetic DVS gestures: train a vanilla SNN and an MA-SNN, compare them");
  auto a = std::make_shared<DemoArgs>();
  cmd->add_option("--out", a->out, "output folder")->capture_default_str();
  cmd->add_option("--set", a->sets, "override a key of the demo config, e.g. --set train.epochs=2 (repeatable)");
  cmd->add_flag("--quiet,-q", a->quiet, "no progress output");
  cmd->callback([a] { run(*a); });
});

}  // namespace
}  // namespace masnn::cli
