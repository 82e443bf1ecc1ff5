// `masnn bench ...`: performance figures. Each figure is measured in this process, both sides in one run.
#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "../../bench/lif_bench.h"
#include "command.h"

namespace masnn::cli {
namespace {

void run_bench_lif(const bench::LifBenchConfig& c, const std::string& json_path) {
  const auto results = bench::run_lif_bench(c);
  std::cout << fmt::format("bench lif: input [T={},B={},C={},{}x{}] = {:.1f} M elements, neuron {}, {}, threads {}, "
                           "median of {}\n",
                           c.steps, c.batch, c.channels, c.size, c.size,
                           c.steps * c.batch * c.channels * c.size * c.size / 1e6, c.neuron,
                           c.activate_pre ? "CA+SA inside the time loop (activate-pre)" : "plain LIF",
                           torch::get_num_threads(), c.repeats);
  std::cout << fmt::format("{:<10} {:>12} {:>14} {:>16} {:>12}\n", "backend", "forward ms", "fwd+bwd ms",
                           "peak MiB", "firing rate");
  for (const auto& r : results)
    std::cout << fmt::format("{:<10} {:>12.1f} {:>14.1f} {:>16.1f} {:>12.4f}\n", r.backend, r.forward_ms, r.train_ms,
                             r.peak_mib, r.firing_rate);
  const auto& composed = results[0];
  const auto& fused = results[1];
  std::cout << fmt::format("fused vs composed: forward {:.1f}x faster, fwd+bwd {:.1f}x faster, peak memory {:.1f}x smaller\n",
                           composed.forward_ms / fused.forward_ms, composed.train_ms / fused.train_ms,
                           composed.peak_mib / fused.peak_mib);
  if (!json_path.empty()) {
    nlohmann::json j;
    j["config"] = {{"steps", c.steps}, {"batch", c.batch}, {"channels", c.channels}, {"size", c.size},
                   {"neuron", c.neuron}, {"activate_pre", c.activate_pre}, {"threads", torch::get_num_threads()}};
    for (const auto& r : results)
      j["results"].push_back({{"backend", r.backend}, {"forward_ms", r.forward_ms}, {"train_ms", r.train_ms},
                              {"peak_mib", r.peak_mib}, {"firing_rate", r.firing_rate}});
    std::ofstream out(json_path);
    if (!out) throw std::runtime_error("bench lif: cannot write --json file '" + json_path + "'");
    out << j.dump(2) << "\n";
  }
}

RegisterCommand reg([](CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Measure performance figures");
  bench->require_subcommand(1);
  auto* lif = bench->add_subcommand("lif", "Fused vs composed multi-step LIF: forward, forward+backward, peak memory");
  auto config = std::make_shared<bench::LifBenchConfig>();
  auto json_path = std::make_shared<std::string>();
  lif->add_option("--steps,-T", config->steps, "time steps T")->capture_default_str();
  lif->add_option("--batch,-B", config->batch, "batch size")->capture_default_str();
  lif->add_option("--channels,-C", config->channels, "channels")->capture_default_str();
  lif->add_option("--size", config->size, "height = width")->capture_default_str();
  lif->add_option("--repeats", config->repeats, "timed runs (median reported)")->capture_default_str();
  lif->add_option("--neuron", config->neuron, "dvs (REFERENCE 1.1) or resnet (1.2)")->capture_default_str();
  lif->add_flag("--activate-pre", config->activate_pre, "LIF with channel+spatial attention inside the time loop");
  lif->add_option("--json", *json_path, "also write the figures to this JSON file");
  lif->callback([config, json_path] { run_bench_lif(*config, *json_path); });
});

}  // namespace
}  // namespace masnn::cli
