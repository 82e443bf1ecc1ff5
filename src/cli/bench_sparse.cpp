// `masnn bench sparse`: event-driven against dense conv/linear layers over firing rates (the crossover), and a
// trained network's whole inference both ways.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench/sparse_bench.h"
#include "command.h"
#include "json_output.h"

namespace masnn::cli {
namespace {

// The dense path does not depend on the density: the median of its times over the sweep.
double median_dense(const bench::LayerSweep& s) {
  std::vector<double> v;
  for (const auto& t : s.timings) v.push_back(t.dense_ms);
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A table of sweeps (one row per layer and batch) and its JSON.
void print_sweeps(const std::vector<bench::LayerSweep>& sweeps, const std::vector<double>& densities,
                  nlohmann::json& j) {
  std::string head = fmt::format("{:<44} {:>5} {:>8}", "layer", "batch", "dense");
  for (double d : densities) head += fmt::format(" {:>8}", fmt::format("s@{:g}", d));
  std::cout << head << fmt::format(" {:>10}\n", "crossover");
  for (const auto& s : sweeps) {
    std::string line = fmt::format("{:<44} {:>5} {:>8.3f}", s.layer, s.batch, median_dense(s));
    for (const auto& t : s.timings) line += fmt::format(" {:>8.3f}", t.sparse_ms);
    std::cout << line << fmt::format(" {:>10.3f}\n", s.crossover);
    nlohmann::json js = {{"layer", s.layer}, {"batch", s.batch}, {"crossover", s.crossover}};
    for (const auto& t : s.timings)
      js["timings"].push_back({{"density", t.density}, {"dense_ms", t.dense_ms}, {"sparse_ms", t.sparse_ms}});
    j.push_back(js);
  }
  std::cout << "crossover: the input density below which the event-driven path is faster (interpolated)\n";
}

void run(const bench::SparseBenchConfig& c, const std::string& json_path) {
  const JsonOutput json_out(json_path, "bench sparse");  // checked before the work
  const auto r = bench::run_sparse_bench(c);
  nlohmann::json j;
  j["threads"] = r.threads;
  if (!r.sweeps.empty()) {
    std::cout << fmt::format(
        "bench sparse: layers of {} (random weights, binary inputs), {} thread(s), fastest of {}; time per call in ms, "
        "dense / sparse at each input density\n",
        c.model, r.threads, c.repeats);
    print_sweeps(r.sweeps, c.densities, j["sweeps"]);
  }
  if (!r.train_sweeps.empty()) {
    std::cout << fmt::format(
        "\ntraining: convolutions and linear layers on spikes of {}, forward + backward (input, weight and bias "
        "gradients) at batch T x {}, {} thread(s), fastest of {}; ms, dense (oneDNN) / event-driven at each input "
        "density\n",
        c.model, c.train_batch, r.threads, c.repeats);
    print_sweeps(r.train_sweeps, c.densities, j["train_sweeps"]);
    std::cout << fmt::format(
        "\ntheir input gradient alone: dense (oneDNN's backward-data) / at a surrogate "
        "support of each density (sparse_conv2d_input_grad, sparse_linear_input_grad); ms, crossover = the support "
        "below which it is faster\n");
    print_sweeps(r.input_grad_sweeps, c.densities, j["input_grad_sweeps"]);
  }
  if (!r.runs.empty()) {
    std::cout << fmt::format("\nwhole network: {}, {} test clips, {} thread(s)\n", r.network, r.clips, r.threads);
    std::cout << fmt::format("{:<14} {:<30} {:>10} {:>14} {:>14} {:>12} {:>12}\n", "layer", "shape", "input rate",
                             "crossover T", "crossover 1", "auto sp. T", "auto sp. 1");
    for (const auto& l : r.layers) {
      std::cout << fmt::format("{:<14} {:<30} {:>10.4f} {:>14.3f} {:>14.3f} {:>11.0f}% {:>11.0f}%\n", l.name, l.shape,
                               l.input_density, l.crossover_clip, l.crossover_step, 100 * l.auto_sparse_share_clip,
                               100 * l.auto_sparse_share_step);
      j["network_layers"].push_back({{"name", l.name},
                                     {"shape", l.shape},
                                     {"input_density", l.input_density},
                                     {"crossover_clip", l.crossover_clip},
                                     {"crossover_step", l.crossover_step},
                                     {"auto_sparse_share_clip", l.auto_sparse_share_clip},
                                     {"auto_sparse_share_step", l.auto_sparse_share_step}});
    }
    std::cout << fmt::format("{:<10} {:>16} {:>12} {:>16} {:>12} {:>14} {:>10}\n", "synapses", "clip ms (T steps)",
                             "vs dense", "step ms (batch 1)", "vs dense", "max |out diff|", "same pred");
    const auto& d = r.runs.front();
    for (const auto& run : r.runs) {
      std::cout << fmt::format("{:<10} {:>16.3f} {:>11.2f}x {:>16.3f} {:>11.2f}x {:>14.2e} {:>6}/{}\n", run.synapses,
                               run.clip_ms, d.clip_ms / run.clip_ms, run.step_ms, d.step_ms / run.step_ms,
                               run.max_abs_diff, run.same_prediction, r.clips);
      j["network_runs"].push_back({{"synapses", run.synapses},
                                   {"clip_ms", run.clip_ms},
                                   {"step_ms", run.step_ms},
                                   {"max_abs_diff", run.max_abs_diff},
                                   {"same_prediction", run.same_prediction}});
    }
    std::cout << "input rate: nonzero inputs / inputs (spiking layers: the firing rate feeding them; convs.0: frames); "
                 "auto sp.: share of auto's calls on the sparse path; vs dense: speed-up\n";
    j["network"] = r.network;
    j["clips"] = r.clips;
  }
  if (!json_path.empty()) {
    json_out.write(j);
  }
}

RegisterBench reg([](CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "sparse", "Event-driven vs dense conv/linear over firing rates (crossover); a trained network both ways");
  auto c = std::make_shared<bench::SparseBenchConfig>();
  auto json = std::make_shared<std::string>();
  auto no_layers = std::make_shared<bool>(false);
  cmd->add_option("--model", c->model, "layer shapes of this network: gesture, gait, small")->capture_default_str();
  cmd->add_option("-T,--T", c->steps, "its T (the batch of an offline clip)")->capture_default_str();
  cmd->add_option("--densities", c->densities, "input densities to time")->capture_default_str();
  cmd->add_option("--repeats", c->repeats, "timed calls per point (the fastest is kept)")->capture_default_str();
  cmd->add_option("--bench-threads", c->threads, "LibTorch threads while timing")->capture_default_str();
  cmd->add_option("--checkpoint", c->checkpoint, "a trained network: its whole inference both ways")
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", c->data, "dataset folder (overrides data.root of the checkpoint's config)");
  cmd->add_option("--samples", c->samples, "test samples (first clip each) for the whole network")
      ->capture_default_str();
  cmd->add_flag("--no-layers", *no_layers, "skip the per-layer sweep");
  cmd->add_option("--train", c->train_batch,
                  "also time training (forward + backward) of the convolutions and linear layers on spikes at batch "
                  "T x this, dense vs event-driven (0: skip)")
      ->capture_default_str();
  cmd->add_option("--json", *json, "also write the figures to this JSON file");
  cmd->callback([c, json, no_layers] {
    c->layers = !*no_layers;
    run(*c, *json);
  });
});

}  // namespace
}  // namespace masnn::cli
